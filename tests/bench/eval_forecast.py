"""The full forecast evaluation: every market kind (13) x 200 symbols x 60 minutes, as a table.

    .venv/bin/python tests/bench/eval_forecast.py [--json] [any limitwatch evaluate option]

Runs on demand (pytest collects only test_*.py); the table compares the engine with the
proximity and vol-scaled alarms at its precision and with the oracle that knows the true
drift and volatility. Definitions: engine/evaluation.py. No assertions.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tui.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["evaluate", *sys.argv[1:]]))
