"""The signal history: signals kept across runs in SQLite, bounded, shown as past in the
monitor and exported with `e` / `E`; a broken database never stops the monitor."""

from __future__ import annotations

import csv
import html
import json
import math
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from engine import Signal, SignalKind
from tests.tui.driving import drive
from tests.tui.feeds import StaticFeed
from tests.waiting import wait_until_async
from tui.app import LimitwatchApp
from tui.runtime.history import EXPORT_COLUMNS, SignalHistory
from tui.widgets.signal_log import PAST_LINE, SignalLog

T0 = 1_700_000_000.0


def _sig(symbol: str, kind: SignalKind, seq: int, t: float) -> Signal:
    """As the engine raises them: a watch with its chance and time, a crossing at p 1 and
    time 0, a cross of the averages with neither (nor a limit)."""
    p, eta = {"BUY_WATCH": (0.72, 12.5), "SELL_WATCH": (0.72, 12.5), "BUY": (1.0, 0.0),
              "SELL": (1.0, 0.0)}.get(kind.name, (math.nan, math.nan))  # fmt: skip
    return Signal(symbol, kind, seq, t, 99.5, 100.0 if math.isfinite(p) else math.nan, p, eta)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_new_run_lists_the_earlier_runs_signals_newest_first_and_not_its_own(
    tmp_path: Path,
) -> None:
    path, clock = tmp_path / "h.sqlite3", Clock(T0)
    first = SignalHistory(path, clock=clock)
    first.add(
        [_sig("ACME", SignalKind.SELL_WATCH, 1, T0), _sig("ACME", SignalKind.SELL, 1, T0 + 5)]
    )
    first.add([_sig("BRIX", SignalKind.GOLDEN_CROSS, 1, T0 + 2)])
    first.close()
    clock.now += 60
    second = SignalHistory(path, clock=clock)
    second.add([_sig("CYGN", SignalKind.BUY, 1, T0 + 70)])
    past = second.past(10)
    assert [(s.symbol, s.kind.name, s.t) for s in past] == [
        ("ACME", "SELL", T0 + 5), ("BRIX", "GOLDEN_CROSS", T0 + 2), ("ACME", "SELL_WATCH", T0),
    ]  # fmt: skip
    watch = past[2]
    assert (watch.seq, watch.price, watch.limit, watch.p_hit, watch.eta_s) == (
        1, 99.5, 100.0, 0.72, 12.5,
    )  # fmt: skip
    assert math.isnan(past[1].limit) and math.isnan(past[1].p_hit)  # a cross has none
    assert second.past(1) == past[:1]
    assert second.added == 1


def test_the_history_is_bounded_by_rows_and_by_age(tmp_path: Path) -> None:
    clock = Clock(T0)
    h = SignalHistory(tmp_path / "h.sqlite3", keep_days=1.0, keep_rows=50, clock=clock)
    h.add([_sig("ACME", SignalKind.BUY, i, T0 + i) for i in range(1, 31)])
    h.close()
    clock.now += 2 * 86400  # two days on: the first 30 are too old
    h = SignalHistory(tmp_path / "h.sqlite3", keep_days=1.0, keep_rows=50, clock=clock)
    assert h.past(100) == []
    h.add([_sig("ACME", SignalKind.SELL, i, T0 + 1000 + i) for i in range(1, 81)])
    h.close()
    clock.now += 1
    h = SignalHistory(tmp_path / "h.sqlite3", keep_days=1.0, keep_rows=50, clock=clock)
    kept = h.past(1000)
    assert len(kept) == 50
    assert [s.seq for s in kept] == list(range(80, 30, -1))  # the newest 50


def test_exports_carry_every_column_filter_by_symbol_and_kind_and_defuse_formulas(
    tmp_path: Path,
) -> None:
    h = SignalHistory(tmp_path / "h.sqlite3", clock=Clock(T0))
    h.add([
        _sig("ACME", SignalKind.SELL_WATCH, 1, T0 + 1),
        _sig("=HYPERLINK(1)", SignalKind.BUY, 1, T0 + 2),
        _sig("ACME", SignalKind.DEATH_CROSS, 1, T0 + 3),
        _sig("ACME", SignalKind.SELL, 1, T0 + 4),
    ])  # fmt: skip
    out = tmp_path / "x" / "all.csv"
    assert h.export(out) == 4
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    by = [dict(zip(EXPORT_COLUMNS, r, strict=True)) for r in rows[1:]]
    assert [r["kind"] for r in by] == ["SELL_WATCH", "BUY", "DEATH_CROSS", "SELL"]  # oldest first
    assert by[1]["symbol"] == "'=HYPERLINK(1)"  # a spreadsheet shows it as text
    assert by[0]["time"] == "2023-11-14T22:13:21+00:00"
    assert (by[0]["p_hit"], by[0]["eta_s"], by[0]["limit"]) == ("0.72", "12.5", "100.0")
    assert (by[2]["limit"], by[2]["p_hit"]) == ("", "")  # a cross has none

    only = tmp_path / "acme.jsonl"
    assert h.export(only, symbol="ACME", kinds={"SELL", "BUY"}, jsonl=True) == 1
    (line,) = [json.loads(x) for x in only.read_text().splitlines()]
    assert (line["symbol"], line["kind"], line["p_hit"], line["eta_s"]) == ("ACME", "SELL", 1, 0)
    cross = tmp_path / "cross.jsonl"
    assert h.export(cross, kinds={"DEATH_CROSS"}, jsonl=True) == 1
    assert json.loads(cross.read_text())["limit"] is None


def test_a_corrupt_or_unwritable_database_switches_the_history_off_with_a_reason(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"this is not a database\n" * 200)
    h = SignalHistory(bad)
    assert not h.enabled
    assert "signal history cannot be opened" in h.problem and str(bad) in h.problem
    assert "--no-signal-history" in h.problem
    h.add([_sig("ACME", SignalKind.BUY, 1, T0)])  # nothing raised, nothing stored
    assert h.past(10) == [] and h.added == 0
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    h = SignalHistory(blocked / "history.sqlite3")
    assert not h.enabled and "cannot be opened" in h.problem


def test_a_write_that_fails_midway_switches_the_history_off(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    h = SignalHistory(path)
    h.add([_sig("ACME", SignalKind.BUY, 1, T0)])
    other = sqlite3.connect(path)
    other.execute("DROP TABLE signals")  # another program broke the file under us
    other.commit()
    other.close()
    h.add([_sig("ACME", SignalKind.BUY, 2, T0)])
    assert not h.enabled and "could not be written" in h.problem


def test_the_monitor_lists_earlier_runs_below_this_runs_signals_and_exports_them(
    tmp_path: Path,
) -> None:
    path, clock = tmp_path / "h.sqlite3", Clock(T0 - 3600)
    earlier = SignalHistory(path, clock=clock)
    earlier.add([_sig("ACME", SignalKind.SELL, 1, T0 - 3000), _sig("ZZZ", SignalKind.BUY, 1, T0)])
    earlier.close()
    clock.now = T0
    history = SignalHistory(path, clock=clock)
    feed = StaticFeed()
    history.add(feed.signals)  # as the worker adds this run's
    app = LimitwatchApp(feed, history=history, export_dir=tmp_path / "exports")
    toasts: list[str] = []

    async def script(pilot: object) -> None:
        log = app.query_one(SignalLog)
        rows = log.visible_rows()
        at = rows.index(PAST_LINE)
        assert at == min(len(feed.signals), len(rows) - 3)  # this run's first, then the line
        assert [r[2].plain for r in rows[at + 1 : at + 3]] == ["ZZZ", "ACME"]
        assert all(cell.style == "dim" for cell in rows[at + 1])
        await pilot.press("e")  # type: ignore[attr-defined]
        await wait_until_async(
            lambda: any(n.message.endswith(".csv") for n in app._notifications), pilot.pause
        )
        toasts.extend(n.message for n in app._notifications)

    drive(app, script)
    (out,) = (tmp_path / "exports").glob("signals-*.csv")
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + len(feed.signals) + 2
    assert any(f"{len(feed.signals) + 2:,} signals exported to {out}" in t for t in toasts)


def test_an_export_with_nothing_to_write_says_so_and_leaves_no_file(tmp_path: Path) -> None:
    """With no signal kept, `e` wrote a file of a header alone and said "0 signals
    exported to ..."; the same with a filter on the symbol shown."""
    app = LimitwatchApp(
        StaticFeed(), history=SignalHistory(tmp_path / "h.sqlite3"), export_dir=tmp_path / "x"
    )
    toasts: list[str] = []

    async def script(pilot: object) -> None:
        for keys in (("e",), ("f", "E")):
            await pilot.press(*keys)  # type: ignore[attr-defined]
            await wait_until_async(
                lambda: any("Nothing exported" in n.message for n in app._notifications),
                pilot.pause,  # type: ignore[attr-defined]
            )
            toasts.extend(n.message for n in app._notifications if "export" in n.message)
            app.clear_notifications()

    drive(app, script)
    assert toasts[0] == "Nothing exported: no signal is kept yet", toasts
    assert re.fullmatch(r"Nothing exported: no signal of \S+ is kept yet", toasts[1]), toasts
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_the_line_above_earlier_runs_reads_in_one_piece_at_80x24(tmp_path: Path) -> None:
    path, clock = tmp_path / "h.sqlite3", Clock(T0 - 3600)
    earlier = SignalHistory(path, clock=clock)
    earlier.add([_sig("ACME", SignalKind.SELL, 1, T0 - 3000)])
    earlier.close()
    clock.now = T0
    app = LimitwatchApp(StaticFeed(n_ticks=0), history=SignalHistory(path, clock=clock))
    shown: list[str] = []

    async def script(pilot: object) -> None:
        await pilot.pause(0.2)  # type: ignore[attr-defined]
        shown.append(html.unescape(app.export_screenshot()).replace("\xa0", " "))

    drive(app, script, size=(80, 24))
    assert "earlier runs" in shown[0]  # not "earlier   runs ↓" across two columns


def test_without_a_history_e_says_why_nothing_is_exported() -> None:
    app = LimitwatchApp(StaticFeed(n_ticks=100))
    toasts: list[str] = []

    async def script(pilot: object) -> None:
        await pilot.press("E")  # type: ignore[attr-defined]
        await wait_until_async(lambda: len(app._notifications) > 0, pilot.pause)
        toasts.extend(n.message for n in app._notifications)

    drive(app, script)
    assert any("Nothing to export: no signal history is kept" in t for t in toasts)


def test_an_export_reads_page_by_page_while_the_worker_goes_on_adding(tmp_path: Path) -> None:
    """An export reads through its own connection a page at a time, never under the lock
    the worker's adds take: a signal added midway is stored at once, and the export is
    the history as it stood when it began."""
    import threading

    h = SignalHistory(tmp_path / "h.sqlite3", clock=Clock(T0))
    h.add([_sig("ACME", SignalKind.BUY, i, T0 + i) for i in range(1, 12_001)])
    rows = h.rows()
    first = next(rows)
    added = threading.Thread(target=h.add, args=([_sig("ACME", SignalKind.SELL, 1, T0)],))
    added.start()
    added.join(timeout=10)
    assert not added.is_alive(), "an add waited for the export"
    assert h.added == 12_001
    rest = list(rows)
    assert first[3] == 1 and len(rest) == 11_999
    assert [r[3] for r in rest][-1] == 12_000
    assert len(list(h.rows())) == 12_001  # the next export sees it


def test_two_exports_in_the_same_second_write_two_files(tmp_path: Path) -> None:
    history = SignalHistory(tmp_path / "h.sqlite3", clock=Clock(T0))
    history.add([_sig("ACME", SignalKind.BUY, 1, T0)])
    app = LimitwatchApp(StaticFeed(n_ticks=100), history=history, export_dir=tmp_path / "x")

    async def script(pilot: object) -> None:
        await pilot.press("e", "e", "E")  # type: ignore[attr-defined]
        await wait_until_async(
            lambda: len(list((tmp_path / "x").glob("signals-*"))) == 3, pilot.pause
        )
        await pilot.pause(0.3)

    drive(app, script)
    files = sorted((tmp_path / "x").glob("signals-*"))
    assert len(files) == 3
    assert all(f.read_text(encoding="utf-8").count("ACME") == 1 for f in files)
    out = files[0]
    try:
        history.export(out)
    except FileExistsError:
        pass
    else:
        raise AssertionError("an export must never write over a file")


def _drop_table(path: Path) -> None:
    other = sqlite3.connect(path)
    other.execute("DROP TABLE signals")  # the file changed under the running monitor
    other.commit()
    other.close()


@pytest.mark.parametrize(
    ("change", "said"),
    [(_drop_table, "could not be written"), (Path.unlink, "was deleted")],
    ids=["changed", "deleted"],
)
def test_a_history_that_fails_or_is_deleted_during_the_run_is_said_in_a_toast(
    tmp_path: Path, change: Callable[[Path], None], said: str
) -> None:
    path = tmp_path / "h.sqlite3"
    history = SignalHistory(path, clock=Clock(T0))
    feed = StaticFeed(n_ticks=100)
    app = LimitwatchApp(feed, history=history)
    toasts: list[str] = []

    async def script(pilot: object) -> None:
        await pilot.pause()  # type: ignore[attr-defined]
        change(path)
        history.add([_sig("ACME", SignalKind.BUY, 1, T0)])  # as the worker thread does
        feed.seq += 1  # a new snapshot
        await wait_until_async(
            lambda: any(said in n.message for n in app._notifications),
            pilot.pause,  # type: ignore[attr-defined]
        )
        toasts.extend(n.message for n in app._notifications)

    drive(app, script)
    assert sum(said in t for t in toasts) == 1
    assert path.exists()  # a deleted one is kept again


def test_an_export_that_fails_leaves_no_file_and_a_folder_that_is_a_file_is_said(
    tmp_path: Path,
) -> None:
    """On a full disk the export said so and left an empty signals-....csv behind; an
    --export-dir that is a file read "File exists"."""
    import errno

    import pytest

    h = SignalHistory(tmp_path / "h.sqlite3", clock=Clock(T0))
    h.add([_sig("ACME", SignalKind.BUY, i, T0 + i) for i in range(1, 4)])
    rows = h.rows

    def full(*args: object, **kw: object):  # type: ignore[no-untyped-def]
        yield from list(rows(*args, **kw))[:2]  # type: ignore[arg-type]
        raise OSError(errno.ENOSPC, "No space left on device")

    h.rows = full  # type: ignore[method-assign]
    out = tmp_path / "out" / "signals.csv"
    with pytest.raises(OSError, match="No space left"):
        h.export(out)
    assert not out.exists()
    h.rows = rows  # type: ignore[method-assign]
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(NotADirectoryError) as info:
        h.export(afile / "signals.csv")
    assert info.value.strerror == f"{afile} is a file, not a folder"
    assert h.export(out) == 3


def _stored(path: Path) -> list[tuple[str, int]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT symbol, seq FROM signals ORDER BY rowid").fetchall()
    finally:
        db.close()


@pytest.mark.parametrize("pattern", ["h.sqlite3*", "h.sqlite3"])
def test_a_file_deleted_while_the_monitor_runs_is_kept_again_with_this_runs_signals(
    tmp_path: Path, pattern: str
) -> None:
    # SQLite goes on writing to a file deleted under it: every later signal was lost when
    # it closed, without a word.
    path, clock = tmp_path / "h.sqlite3", Clock(T0)
    earlier = SignalHistory(path, clock=clock)
    earlier.add([_sig("OLD", SignalKind.BUY, 1, T0)])
    earlier.close()
    clock.now += 60
    history = SignalHistory(path, clock=clock)
    history.add([_sig("ACME", SignalKind.BUY, 1, T0 + 61)])
    for leftover in tmp_path.glob(pattern):  # with its -wal and -shm, or alone
        leftover.unlink()
    history.add([_sig("ACME", SignalKind.SELL, 2, T0 + 62)])
    history.add([_sig("BRIX", SignalKind.BUY, 1, T0 + 63)])
    assert history.notice == (
        "its file was deleted: a new one keeps this run's 1 signal and those to come"
    )
    assert history.enabled and not history.problem
    history.close()
    # this run's signals, all of them, and not the earlier run's the user deleted
    assert _stored(path) == [("ACME", 1), ("ACME", 2), ("BRIX", 1)]


def test_a_file_replaced_while_the_monitor_runs_gets_this_runs_signals(tmp_path: Path) -> None:
    path, clock = tmp_path / "h.sqlite3", Clock(T0)
    history = SignalHistory(path, clock=clock)
    history.add([_sig("ACME", SignalKind.BUY, 1, T0)])
    other = tmp_path / "backup.sqlite3"
    restored = SignalHistory(other, clock=Clock(T0 - 3600))
    restored.add([_sig("OLD", SignalKind.SELL, 7, T0 - 3600)])
    restored.close()
    other.replace(path)  # a backup put back under the same name
    history.add([_sig("ACME", SignalKind.SELL, 2, T0 + 1)])
    assert history.notice.startswith("its file was replaced: ")
    history.close()
    assert _stored(path) == [("OLD", 7), ("ACME", 1), ("ACME", 2)]
