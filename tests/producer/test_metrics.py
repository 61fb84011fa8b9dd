"""System metrics from /proc: parsing, rates, the positive floor, limits and prompt stopping."""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from producer.lines import SourceError
from producer.metrics import (
    FLOOR,
    METRICS,
    Counters,
    MetricsSource,
    default_limits,
    rates,
    read_counters,
    to_ticks,
    write_proc,
)
from producer.source import Source

BASE = Counters(
    cpu=(1000, 0, 500, 8000, 100, 0, 0, 0),
    ncpu=4,
    mem_total_kb=8 * 1024 * 1024,
    mem_available_kb=6 * 1024 * 1024,
    load_1m=0.5,
    disk_read_sectors=10_000,
    disk_write_sectors=20_000,
    net_rx_bytes=1_000_000,
    net_tx_bytes=2_000_000,
)


def test_written_proc_tree_reads_back_unchanged(tmp_path: Path) -> None:
    write_proc(tmp_path, BASE)
    assert read_counters(tmp_path) == BASE


def test_real_proc_of_this_machine_parses() -> None:
    counters = read_counters("/")
    assert counters.ncpu >= 1
    assert 0 < counters.mem_available_kb <= counters.mem_total_kb
    assert counters.load_1m >= 0
    assert sum(counters.cpu) > 0


def test_partitions_loop_devices_and_loopback_are_not_counted(tmp_path: Path) -> None:
    write_proc(tmp_path, BASE)  # the fixture adds loop0, vda1 and lo with big numbers
    counters = read_counters(tmp_path)
    assert counters.disk_read_sectors == BASE.disk_read_sectors
    assert counters.net_rx_bytes == BASE.net_rx_bytes


def test_meminfo_without_memavailable_falls_back_to_free_buffers_cached(tmp_path: Path) -> None:
    write_proc(tmp_path, BASE)
    (tmp_path / "proc" / "meminfo").write_text(
        "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 20 kB\nCached: 30 kB\n"
    )
    assert read_counters(tmp_path).mem_available_kb == 150


def test_rates_turn_counter_deltas_into_percent_and_kib_per_second() -> None:
    later = replace(
        BASE,
        cpu=(1000 + 60, 0 + 10, 500 + 20, 8000 + 5, 100 + 5, 0, 0, 0),  # 100 jiffies
        mem_available_kb=2 * 1024 * 1024,
        load_1m=3.25,
        disk_read_sectors=10_000 + 4096,  # 2 MiB
        disk_write_sectors=20_000,
        net_rx_bytes=1_000_000 + 2048,
        net_tx_bytes=2_000_000 + 1024,
    )
    values = rates(BASE, later, dt=2.0)
    assert list(values) == list(METRICS)
    assert values["cpu.user"] == pytest.approx(70.0)
    assert values["cpu.system"] == pytest.approx(20.0)
    assert values["cpu.idle"] == pytest.approx(5.0)
    assert values["cpu.iowait"] == pytest.approx(5.0)
    assert values["mem.available_mb"] == pytest.approx(2048.0)
    assert values["mem.used_pct"] == pytest.approx(75.0)
    assert values["load.1m"] == 3.25
    assert values["disk.read_kbps"] == pytest.approx(1024.0)
    assert values["disk.write_kbps"] == 0.0
    assert values["net.rx_kbps"] == pytest.approx(1.0)
    assert values["net.tx_kbps"] == pytest.approx(0.5)


def test_counter_reset_counts_as_no_change_not_a_negative_rate() -> None:
    reset = replace(BASE, net_rx_bytes=0, disk_write_sectors=0)
    values = rates(BASE, reset, dt=1.0)
    assert values["net.rx_kbps"] == 0.0
    assert values["disk.write_kbps"] == 0.0


def test_zero_values_are_sent_at_the_floor_so_prices_stay_positive() -> None:
    ticks = to_ticks(rates(BASE, BASE, dt=1.0), ts=1750000000.0)
    assert [t.symbol for t in ticks] == list(METRICS)
    assert all(t.price > 0 for t in ticks)
    by_symbol = {t.symbol: t.price for t in ticks}
    assert by_symbol["disk.read_kbps"] == FLOOR
    assert by_symbol["cpu.idle"] == 100.0  # no CPU time passed: reported idle


def test_default_limits_alert_on_the_usual_worries() -> None:
    limits = default_limits(BASE)
    assert set(limits) == set(METRICS)
    assert limits["cpu.user"][1] == 85.0
    assert limits["mem.available_mb"][0] == pytest.approx(0.1 * 8 * 1024)
    assert limits["load.1m"][1] == 6.0
    assert limits["cpu.idle"][0] == 10.0


def test_default_limits_leave_the_meaningless_side_unset_rather_than_invented() -> None:
    limits = default_limits(BASE)
    for name, (buy, sell) in limits.items():
        assert math.isnan(buy) != math.isnan(sell), name
        assert all(x > 0 for x in (buy, sell) if not math.isnan(x)), name
    assert math.isnan(limits["cpu.user"][0])
    assert math.isnan(limits["mem.available_mb"][1])


def test_source_yields_one_tick_per_metric_each_interval(tmp_path: Path) -> None:
    write_proc(tmp_path, BASE)
    times = iter(range(1750000000, 1750000100))
    source = MetricsSource(tmp_path, interval=0.01, clock=lambda: float(next(times)))
    assert isinstance(source, Source)
    assert source.paced is False
    ticks = list(itertools.islice(source, 2 * len(METRICS)))
    assert [t.symbol for t in ticks] == list(METRICS) * 2
    assert {t.ts for t in ticks[: len(METRICS)]} == {1750000000.0}
    assert {t.ts for t in ticks[len(METRICS) :]} == {1750000001.0}


def test_setting_stop_ends_a_long_wait_promptly(tmp_path: Path) -> None:
    """Protects quitting: the iterator must not sleep through a whole interval."""
    write_proc(tmp_path, BASE)
    stop = threading.Event()
    source = MetricsSource(tmp_path, interval=3600.0, stop=stop)
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(list(source)), daemon=True)
    thread.start()
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert result == [[]]


def test_missing_proc_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read system metrics"):
        MetricsSource(tmp_path)
