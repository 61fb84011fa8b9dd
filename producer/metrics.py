"""This machine's vital signs as ticks: CPU, memory, load, disk and network read from /proc.

Like ``vmstat 1``, the source reads the kernel's counters every `interval` seconds and
turns the difference between two readings into rates. Each figure travels as a tick whose
symbol names the metric:

=====================  ==============================================================
``cpu.user``           % of CPU time in user mode (including niced processes)
``cpu.system``         % in the kernel (system, irq and softirq)
``cpu.idle``           % idle
``cpu.iowait``         % idle while waiting for disk I/O
``mem.available_mb``   memory available to new work, MiB (``MemAvailable``)
``mem.used_pct``       % of memory not available
``load.1m``            one-minute load average
``disk.read_kbps``     KiB/s read from whole disks (partitions, loop, ram, dm and md
                       devices are left out so that nothing is counted twice)
``disk.write_kbps``    KiB/s written to whole disks
``net.rx_kbps``        KiB/s received on all interfaces except ``lo``
``net.tx_kbps``        KiB/s sent on all interfaces except ``lo``
=====================  ==============================================================

A price on the wire must be positive, so every figure is sent as ``max(value, FLOOR)``
with ``FLOOR = 0.001``: an idle disk reads 0.001 KiB/s, not 0. Nothing else is shifted.

Default limits turn the usual worries into alerts (:func:`default_limits`): a sell limit
is "too high" (CPU busy at 85 %, memory 90 % used, load at 1.5 per CPU, 100 MiB/s of
disk or network), a buy limit is "too low" (idle CPU under 10 %, available memory under
10 % of the total). The side that makes no sense for a metric is NaN: no limit.

Bursty figures (iowait, disk, network) jump between the floor and hundreds, a huge
move in log terms, so their forecasts are jumpy; their sell limits are best read as
plain thresholds.

Every path is read under a `root` directory (``/`` by default), so tests and
simulations can supply their own ``proc/`` tree; :func:`write_proc` writes one.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from producer.lines import SourceError
from producer.wire import Tick

#: Smallest value sent: prices on the wire must be > 0.
FLOOR = 0.001
#: The metrics in the order they are sent each interval.
METRICS: tuple[str, ...] = (
    "cpu.user",
    "cpu.system",
    "cpu.idle",
    "cpu.iowait",
    "mem.available_mb",
    "mem.used_pct",
    "load.1m",
    "disk.read_kbps",
    "disk.write_kbps",
    "net.rx_kbps",
    "net.tx_kbps",
)
#: Longest single wait between stop-flag checks, seconds.
STOP_CHECK_S = 0.2

_SECTOR_BYTES = 512  # /proc/diskstats counts 512-byte sectors whatever the device
_PARTITION = re.compile(r"^(?:(?:sd|vd|xvd|hd)[a-z]+\d+|(?:nvme\d+n\d+|mmcblk\d+)p\d+)$")
_VIRTUAL_DISK = re.compile(r"^(?:loop|ram|zram|dm-|md|sr|fd)")


@dataclass(frozen=True, slots=True)
class Counters:
    """One reading of the kernel's counters (cumulative since boot, except mem and load).

    `cpu` holds jiffies for user, nice, system, idle, iowait, irq, softirq and steal.
    """

    cpu: tuple[int, int, int, int, int, int, int, int]
    ncpu: int
    mem_total_kb: int
    mem_available_kb: int
    load_1m: float
    disk_read_sectors: int
    disk_write_sectors: int
    net_rx_bytes: int
    net_tx_bytes: int


def _proc(root: str | Path, name: str) -> str:
    return Path(root, "proc", name).read_text(encoding="ascii", errors="replace")


def read_counters(root: str | Path = "/") -> Counters:
    """Read /proc/stat, meminfo, loadavg, diskstats and net/dev under `root`.

    Raises OSError when a file is missing and ValueError when one cannot be parsed.
    """
    cpu: list[int] | None = None
    ncpu = 0
    for line in _proc(root, "stat").splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "cpu":
            cpu = [int(v) for v in parts[1:9]] + [0] * max(0, 9 - len(parts))
        elif parts[0].startswith("cpu") and parts[0][3:].isdigit():
            ncpu += 1
    if cpu is None:
        raise ValueError("proc/stat has no 'cpu' line")

    mem: dict[str, int] = {}
    for line in _proc(root, "meminfo").splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            mem[key.strip()] = int(fields[0])
    if "MemTotal" not in mem:
        raise ValueError("proc/meminfo has no MemTotal")
    available = mem.get("MemAvailable")
    if available is None:  # kernels before 3.14
        available = mem.get("MemFree", 0) + mem.get("Buffers", 0) + mem.get("Cached", 0)

    load_1m = float(_proc(root, "loadavg").split()[0])

    read_sectors = write_sectors = 0
    for line in _proc(root, "diskstats").splitlines():
        parts = line.split()
        if len(parts) < 10:
            continue
        name = parts[2]
        if _VIRTUAL_DISK.match(name) or _PARTITION.match(name):
            continue
        read_sectors += int(parts[5])
        write_sectors += int(parts[9])

    rx = tx = 0
    for line in _proc(root, "net/dev").splitlines():
        iface, sep, rest = line.partition(":")
        if not sep or iface.strip() == "lo":
            continue
        fields = rest.split()
        if len(fields) >= 9 and fields[0].isdigit():
            rx += int(fields[0])
            tx += int(fields[8])

    return Counters(
        cpu=tuple(cpu[:8]),  # type: ignore[arg-type]
        ncpu=max(ncpu, 1),
        mem_total_kb=mem["MemTotal"],
        mem_available_kb=available,
        load_1m=load_1m,
        disk_read_sectors=read_sectors,
        disk_write_sectors=write_sectors,
        net_rx_bytes=rx,
        net_tx_bytes=tx,
    )


def rates(prev: Counters, cur: Counters, dt: float) -> dict[str, float]:
    """The metrics between two readings `dt` seconds apart, in METRICS order.

    Counters that went backwards (a reset, a device removed) count as no change.
    """
    if dt <= 0:
        raise ValueError(f"readings must be apart in time, got dt={dt}")
    d = [max(0, c - p) for c, p in zip(cur.cpu, prev.cpu, strict=True)]
    user, nice, system, idle, iowait, irq, softirq, _steal = d
    total = sum(d)

    def pct(x: int) -> float:
        return 100.0 * x / total if total else 0.0

    def kib_per_s(now: int, before: int, unit: int) -> float:
        return max(0, now - before) * unit / 1024.0 / dt

    available_mb = cur.mem_available_kb / 1024.0
    used_pct = 100.0 * (1.0 - cur.mem_available_kb / cur.mem_total_kb) if cur.mem_total_kb else 0
    return {
        "cpu.user": pct(user + nice),
        "cpu.system": pct(system + irq + softirq),
        "cpu.idle": pct(idle) if total else 100.0,
        "cpu.iowait": pct(iowait),
        "mem.available_mb": available_mb,
        "mem.used_pct": used_pct,
        "load.1m": cur.load_1m,
        "disk.read_kbps": kib_per_s(cur.disk_read_sectors, prev.disk_read_sectors, _SECTOR_BYTES),
        "disk.write_kbps": kib_per_s(
            cur.disk_write_sectors, prev.disk_write_sectors, _SECTOR_BYTES
        ),
        "net.rx_kbps": kib_per_s(cur.net_rx_bytes, prev.net_rx_bytes, 1),
        "net.tx_kbps": kib_per_s(cur.net_tx_bytes, prev.net_tx_bytes, 1),
    }


def to_ticks(values: dict[str, float], ts: float) -> list[Tick]:
    """One tick per metric at event time `ts`, each value floored at FLOOR."""
    return [Tick(name, max(float(values[name]), FLOOR), ts) for name in METRICS]


def default_limits(counters: Counters) -> dict[str, tuple[float, float]]:
    """(buy, sell) per metric: buy fires when a figure falls too low, sell when too high.

    A side that means nothing for a metric is NaN, the engine's "no limit".
    """
    total_mb = counters.mem_total_kb / 1024.0
    busy = 100.0 * 1024  # 100 MiB/s in KiB/s
    none = math.nan
    return {
        "cpu.user": (none, 85.0),
        "cpu.system": (none, 50.0),
        "cpu.idle": (10.0, none),
        "cpu.iowait": (none, 20.0),
        "mem.available_mb": (round(0.10 * total_mb, 1), none),
        "mem.used_pct": (none, 90.0),
        "load.1m": (none, 1.5 * counters.ncpu),
        "disk.read_kbps": (none, busy),
        "disk.write_kbps": (none, busy),
        "net.rx_kbps": (none, busy),
        "net.tx_kbps": (none, busy),
    }


class MetricsSource:
    """Live ticks of this machine's metrics, one batch of METRICS every `interval` seconds.

    Waits on `stop` (a threading.Event, made here when not given) in slices of at most
    STOP_CHECK_S, so setting it, or calling :meth:`close`, ends the iteration promptly.
    Event time is `clock()` at each reading (wall time by default).
    """

    paced = False
    #: Gauges jump by design (idle CPU to busy in a second): no price-jump check for them.
    price_jumps = True
    #: Quantities, not prices: the engine forecasts them in their own units (additive).
    additive = METRICS

    def __init__(
        self,
        root: str | Path = "/",
        *,
        interval: float = 1.0,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.root = Path(root)
        self.interval = float(interval)
        self.stop = stop if stop is not None else threading.Event()
        self._clock = clock
        self.name = f"metrics(every {self.interval:g}s)"
        if str(self.root) != os.sep:
            self.name = f"metrics({self.root}, every {self.interval:g}s)"
        self.limits = default_limits(self._read())

    def _read(self) -> Counters:
        try:
            return read_counters(self.root)
        except (OSError, ValueError) as exc:
            raise SourceError(
                str(self.root / "proc"), None, f"cannot read system metrics: {exc}"
            ) from None

    def close(self) -> None:
        """Ask a running iteration to end at its next check."""
        self.stop.set()

    def _sleep_until(self, deadline: float) -> bool:
        """Wait until `deadline` (monotonic); False if asked to stop first."""
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            self.stop.wait(min(STOP_CHECK_S, remaining))
        return False

    def __iter__(self) -> Iterator[Tick]:
        prev = self._read()
        prev_at = time.monotonic()
        deadline = prev_at
        while True:
            deadline += self.interval
            if not self._sleep_until(deadline):
                return
            cur = self._read()
            now = time.monotonic()
            ticks = to_ticks(rates(prev, cur, max(now - prev_at, 1e-6)), self._clock())
            prev, prev_at = cur, now
            for tick in ticks:
                if self.stop.is_set():
                    return
                yield tick


def write_proc(root: str | Path, counters: Counters) -> None:
    """Write `counters` under ``root/proc`` in the kernel's layout, as fixtures for tests
    and for simulated captures. :func:`read_counters` reads them back unchanged."""
    proc = Path(root, "proc")
    (proc / "net").mkdir(parents=True, exist_ok=True)
    cpu = " ".join(str(v) for v in counters.cpu)
    per_cpu = "".join(f"cpu{i} {cpu} 0 0\n" for i in range(counters.ncpu))
    (proc / "stat").write_text(f"cpu  {cpu} 0 0\n{per_cpu}intr 0\nctxt 0\n")
    (proc / "meminfo").write_text(
        f"MemTotal:       {counters.mem_total_kb} kB\n"
        f"MemFree:        {counters.mem_available_kb // 2} kB\n"
        f"MemAvailable:   {counters.mem_available_kb} kB\n"
    )
    (proc / "loadavg").write_text(f"{counters.load_1m:.2f} 0.00 0.00 1/100 4242\n")
    zeros = " ".join(["0"] * 11)
    (proc / "diskstats").write_text(
        f"   7       0 loop0 5 0 999 0 5 0 999 {zeros}\n"
        f" 254       0 vda 1 0 {counters.disk_read_sectors} 0 1 0 "
        f"{counters.disk_write_sectors} {zeros}\n"
        f" 254       1 vda1 1 0 {counters.disk_read_sectors} 0 1 0 "
        f"{counters.disk_write_sectors} {zeros}\n"
    )
    (proc / "net" / "dev").write_text(
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
        "errs drop fifo colls carrier compressed\n"
        "    lo:  999999 1 0 0 0 0 0 0   999999 1 0 0 0 0 0 0\n"
        f"  eth0: {counters.net_rx_bytes} 1 0 0 0 0 0 0 {counters.net_tx_bytes} 1 0 0 0 0 0 0\n"
    )
