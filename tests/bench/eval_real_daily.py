"""The forecast scored on real prices: daily closes of the S&P 500 and the Nasdaq Composite
(1999-2018), WTI crude oil (1986-2019) and the VIX (2014-2019), cut into five-year
stretches, each stretch a symbol with limits at 2, 5 and 10 % of its first close.

    .venv/bin/pip install arch      # its bundled datasets are the prices used here
    .venv/bin/python tests/bench/eval_real_daily.py [--json] [any limitwatch evaluate option]

The prices come with the `arch` package (``arch.data``: Yahoo's adjusted closes of the two
indices, FRED's WTI spot price and the CBOE VIX), so the run needs no network. A day is
86,400 s of event time; the horizon is five days, the half-life of the averages 30 days,
and the calibration map learns from a stretch after its first 180 days. Runs on demand
(pytest collects only test_*.py); no assertions.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tui.cli import main

DAY = 86_400
#: Engine settings in event seconds for daily closes (each overridable on the command line).
SETTINGS = [
    "--horizon", str(5 * DAY),
    "--halflife", str(30 * DAY),
    "--calibrate-after", str(180 * DAY),
    "--bands", "2,5,10",
]  # fmt: skip
#: Years per stretch; a stretch of fewer than this many closes is left out.
YEARS, FEWEST = 5, 500


def write_closes(out: Path) -> int:
    """Write every stretch's closes as ``ts,symbol,price`` (time order); how many stretches."""
    try:
        from arch.data import nasdaq, sp500, vix, wti
    except ImportError:
        raise SystemExit(
            "eval_real_daily: the prices come with the arch package: .venv/bin/pip install arch"
        ) from None
    rows: list[tuple[float, str, float]] = []
    names = set()
    for name, data, column in (
        ("SPX", sp500, "Adj Close"),
        ("NDX", nasdaq, "Adj Close"),
        ("WTI", wti, "DCOILWTICO"),
        ("VIX", vix, "vix"),
    ):
        closes = data.load()[column].dropna()
        closes = closes[closes > 0]  # a price must be positive
        first, last = closes.index[0].year, closes.index[-1].year
        for start in range(first, last + 1, YEARS):
            part = closes[(closes.index.year >= start) & (closes.index.year < start + YEARS)]
            if len(part) < FEWEST:
                continue
            names.add(f"{name}{start}")
            rows += [(t.timestamp(), f"{name}{start}", float(p)) for t, p in part.items()]
    rows.sort(key=lambda r: r[0])
    with out.open("w", encoding="utf-8") as f:
        f.write("ts,symbol,price\n")
        f.writelines(f"{t:.0f},{s},{p!r}\n" for t, s, p in rows)
    return len(names)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "daily_closes.csv"
        count = write_closes(path)
        print(f"eval_real_daily: {count} stretches of daily closes", file=sys.stderr)
        raise SystemExit(main(["evaluate", str(path), *SETTINGS, *sys.argv[1:]]))
