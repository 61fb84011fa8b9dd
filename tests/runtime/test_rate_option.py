"""--rate paces the generator only: given with a file, it is said to be unused (a file was
sent at its own times while the user asked for a rate, and nothing said so)."""

from __future__ import annotations

import threading
from pathlib import Path

from producer.generator import MarketGenerator
from tui.runtime.common import DEFAULT_RATE, open_source_from, rate_unused
from tui.runtime.parser import build_parser


def _args(*argv: str):  # type: ignore[no-untyped-def]
    return build_parser().parse_args(["produce", "--bootstrap-servers", "127.0.0.1:1", *argv])


def test_rate_with_a_file_is_said_to_be_unused_and_the_generator_keeps_its_default(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text("ts,symbol,price\n1750000000,ACME,10\n")
    args = _args("--source", str(path), "--rate", "400")
    assert rate_unused(args, args.source) == (
        f"--rate 400 paces the generator only: {path} keeps its own times (--speed scales a file's)"
    )
    assert rate_unused(_args("--source", str(path)), str(path)) is None
    assert rate_unused(_args("--rate", "400"), "generator") is None
    plain = open_source_from(_args(), "generator", threading.Event())
    paced = open_source_from(_args("--rate", "400"), "generator", threading.Event())
    assert isinstance(plain, MarketGenerator) and plain.rate == DEFAULT_RATE == 50.0
    assert isinstance(paced, MarketGenerator) and paced.rate == 400.0
