"""``--limit SYMBOL=BUY:SELL`` reads its numbers as the limits dialog reads them: the same
texts accepted, to the same values, and the same ones refused with the same reason."""

from __future__ import annotations

import argparse
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.limits import limit_problem
from tui.runtime.options import limit, parse_limit

# float() took each of these: 9_9 as 99, other scripts' digits as ASCII ones, nan.
REFUSED = ["9_9", "99_0", "١٠٠", "９９", "0x10", "nan", "inf", "1e400", "150,5", "1,0.5", "12abc"]
ACCEPTED = {"1,500.25": 1500.25, "150.5": 150.5, "2e3": 2000.0, ".5": 0.5, " 7 ": 7.0}


@pytest.mark.parametrize("text", REFUSED)
def test_what_the_dialog_refuses_the_option_refuses_with_the_same_reason(text: str) -> None:
    with pytest.raises(ValueError) as dialog:
        parse_limit(text)
    with pytest.raises(argparse.ArgumentTypeError) as option:
        limit(f"FOXL={text}:1e6")
    assert str(option.value) == f"{f'FOXL={text}:1e6'!r}: buy: {dialog.value}"


@pytest.mark.parametrize(("text", "value"), ACCEPTED.items())
def test_what_the_dialog_reads_the_option_reads_alike(text: str, value: float) -> None:
    assert parse_limit(text) == value
    assert limit(f"FOXL=0.25:{text}") == ("FOXL", 0.25, value)


@given(st.text(alphabet="0123456789.,_eE+- ٣９xn", max_size=8))
def test_any_text_is_read_alike_or_refused_alike(text: str) -> None:
    try:
        value = parse_limit(text)
    except ValueError:
        with pytest.raises(argparse.ArgumentTypeError):
            limit(f"FOXL=1e-9:{text}")
        return
    # Read alike; then accepted or refused as a limit by the one rule of engine.limits.
    problem = limit_problem(1e-9, value, additive=not value > 0)
    if problem is not None:
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(problem)):
            limit(f"FOXL=1e-9:{text}")
        return
    _symbol, _buy, sell = limit(f"FOXL=1e-9:{text}")
    assert sell == value or (math.isnan(sell) and math.isnan(value))
