"""The scenario header: the first line of a scenario, how it is recognised (one function,
:func:`header_object`) and the checks on its limits and engine settings.

The header is one JSON object on one line::

    {"limitwatch_scenario": 1,
     "name": "rally",
     "description": "ACME rallies 4% in 30 s and runs through its sell limit",
     "symbols": ["ACME"],
     "limits": {"ACME": [97.0, 102.5]},
     "engine": {"fast": 20, "slow": 100, "halflife_s": 5.0, "horizon_s": 10.0},
     "made_by": "python tests/scenarios/make_scenarios.py --only rally (seed 11)"}

(written on one line). The fields:

``limitwatch_scenario``
    The format version, 1. A reader refuses versions it does not know.
``name``, ``description``
    A short name and a one-line description of what happens in the scenario.
``symbols``
    The symbols that appear; when not empty, a tick for any other symbol is an error.
``limits``
    Suggested starting limits, ``{"SYMBOL": [buy, sell]}`` under the engine's limit rule
    (:func:`engine.limits.limit_problem`); ``null`` for a side that has no limit (e.g.
    ``[null, 85.0]`` for a CPU gauge), which readers turn into NaN, the engine's "no
    limit"; ``[null, null]`` for a symbol with no limits at all, which a replay leaves
    without them (a symbol not listed gets the ``--band`` default at its first tick).
``engine``
    Suggested engine settings: any of :data:`engine.config.PORTABLE`. Unknown keys are an
    error, to catch misspellings, and each value must make a valid
    :class:`~engine.config.EngineConfig` together with the defaults.
``made_by``
    How the file was made: the command and seed, or the source it was recorded from.
``price_jumps``
    Optional; ``true`` when the values jump by design (gauges such as CPU %): the
    consumer's check against implausible price jumps is then off for this source.
``additive``
    Optional; shell-style patterns (``["cpu.*", "net.rx_kbps"]``) of the symbols whose
    values are quantities rather than prices, which the engine forecasts in their own
    units rather than in log price (see :class:`engine.Engine`); their limits may be 0
    or below.

Unknown top-level header fields are ignored, so later versions can add some.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import msgspec

from engine.config import PORTABLE, SETTINGS, EngineConfig, symbol_matcher
from engine.limits import limit_problem
from producer.lines import BadLine, SourceError, check_symbol, json_object, read_lines
from producer.wire import name_twice

#: Key that marks the first line of a scenario file; its value is the format version.
SCENARIO_KEY = "limitwatch_scenario"
#: The version of the format this module reads and writes.
SCENARIO_VERSION = 1

_WHOLE_SETTINGS = frozenset(s.name for s in SETTINGS if s.kind is int)
#: Most ticks a scenario's header may ask for in a window or the chart's history: each
#: symbol's state grows with them, and a file of a few kilobytes asking for 100,000 (the
#: command line's bound) over a thousand symbols took 1.7 GB. At 2,048, 10,000 symbols
#: (the most an engine tracks by default) keep about 330 MB of windows.
HEADER_MAX_WINDOW = 2048
#: The settings HEADER_MAX_WINDOW bounds.
HEADER_WINDOWS = ("fast", "slow", "history")
_SETTING_NAMES = frozenset(s.name for s in SETTINGS)


class ScenarioHeader(msgspec.Struct, kw_only=True):
    """The first line of a scenario file (see the module docstring for each field)."""

    version: int = msgspec.field(default=SCENARIO_VERSION, name=SCENARIO_KEY)
    name: str
    description: str
    symbols: list[str] = msgspec.field(default_factory=list)
    limits: dict[str, tuple[float | None, float | None]] = msgspec.field(default_factory=dict)
    engine: dict[str, int | float] = msgspec.field(default_factory=dict)
    made_by: str = ""
    #: Left out of the written header unless given (older readers ignore it anyway).
    price_jumps: bool | msgspec.UnsetType = msgspec.UNSET
    additive: list[str] | msgspec.UnsetType = msgspec.UNSET

    def additive_patterns(self) -> tuple[str, ...]:
        """``additive`` as a tuple (empty when not given)."""
        return () if self.additive is msgspec.UNSET else tuple(self.additive)

    def limits_dict(self) -> dict[str, tuple[float, float]]:
        """The limits as ``{symbol: (buy, sell)}`` floats, NaN for a side without one."""
        return {s: (_side(b), _side(v)) for s, (b, v) in self.limits.items()}

    def encode(self) -> bytes:
        """The header as one JSON line, without the newline."""
        return msgspec.json.encode(self)


def _side(value: float | None) -> float:
    return math.nan if value is None else float(value)


def header_object(line: str) -> dict[str, Any] | None:
    """`line` decoded, if it is a scenario header: a JSON object carrying
    :data:`SCENARIO_KEY`. None if it is not one.

    A line that names the key but is not valid JSON raises BadLine: it was meant as a
    header, and a reader that needs one says what is wrong with it.

    >>> header_object('{"limitwatch_scenario": 1, "name": "x"}')
    {'limitwatch_scenario': 1, 'name': 'x'}
    >>> header_object('{"symbol": "limitwatch_scenario", "price": 1, "ts": 1}') is None
    True
    """
    if SCENARIO_KEY not in line:  # most lines are ticks: no decoding for them
        return None
    obj = json_object(line)
    if SCENARIO_KEY not in obj:
        return None
    twice = name_twice(line.encode("utf-8", "surrogatepass"))
    if twice:  # the decoder keeps the last: two "limits" ran with the second's
        raise BadLine(f"the scenario header gives the key {twice!r} twice")
    return obj


def is_scenario_header(line: str | bytes) -> bool:
    """True when `line` is a JSON object carrying the ``limitwatch_scenario`` key."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    try:
        return header_object(text) is not None
    except BadLine:
        return False


def _as_json(value: object, most: int = 60) -> str:
    """``value`` as the header's JSON writes it (``true``, ``"1"``), cut to ``most``
    characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= most else text[: most - 1] + "…"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_shapes(obj: dict[str, Any]) -> None:
    """Raise BadLine, in words, where a field of a header is not of its kind (the
    decoder said ``Expected `float | null`, got `str` - at `$.limits[...][1]```, which
    names neither the symbol nor what a limit is).

    >>> try:
    ...     _check_shapes({"limits": {"FOXL": [98.0, "100"]}})
    ... except BadLine as exc:
    ...     print(str(exc).replace("each a number or null for a side without a limit", "..."))
    bad scenario header: limits for 'FOXL' must be [buy, sell], ..., got [98.0, "100"]
    """

    def bad(what: str, value: object) -> BadLine:
        return BadLine(f"bad scenario header: {what}, got {_as_json(value)}")

    for key in ("name", "description", "made_by"):
        if key in obj and not isinstance(obj[key], str):
            raise bad(f'"{key}" must be text', obj[key])
    for key, what in (("symbols", "symbol names"), ("additive", "symbol patterns")):
        value = obj.get(key, [])
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise bad(f'"{key}" must be an array of {what} (text each)', value)
    limits = obj.get("limits", {})
    if not isinstance(limits, dict):
        raise bad('"limits" must be an object of "SYMBOL": [buy, sell]', limits)
    for symbol, pair in limits.items():
        if not (
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(v is None or _is_number(v) for v in pair)
        ):
            raise bad(
                f"limits for {str(symbol)[:60]!r} must be [buy, sell], each a number or null "
                "for a side without a limit",
                pair,
            )
    if not isinstance(obj.get("engine", {}), dict):
        raise bad('"engine" must be an object of "setting": number', obj["engine"])
    if "price_jumps" in obj and not isinstance(obj["price_jumps"], bool):
        raise bad('"price_jumps" must be true or false', obj["price_jumps"])


def header_from_object(obj: dict[str, Any]) -> ScenarioHeader:
    """Check a decoded first line and turn it into a ScenarioHeader, or raise BadLine."""
    version = obj.get(SCENARIO_KEY)
    if version != SCENARIO_VERSION:
        # Written as JSON has it: the text "1" read "unsupported scenario version '1'
        # (this limitwatch reads 1)".
        raise BadLine(
            f"unsupported scenario version {_as_json(version)} (this limitwatch reads "
            f"{SCENARIO_VERSION}: the number, as in {{{json.dumps(SCENARIO_KEY)}: "
            f"{SCENARIO_VERSION}}})"
        )
    engine = obj.get("engine")
    if isinstance(engine, dict):  # msgspec would say "at $.engine[...]", not which setting
        _unknown_settings(engine)
        for key, value in engine.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BadLine(
                    f"bad scenario header: engine setting {str(key)[:60]!r}: expected a "
                    f"number, got {_as_json(value)}"
                )
    # All at once, in words: msgspec names one missing field a try ("Object missing
    # required field `name`", then `description`).
    missing = [f'"{key}"' for key in ("name", "description") if key not in obj]
    if missing:
        raise BadLine(
            f"bad scenario header: missing {' and '.join(missing)} (text each; a header "
            'needs both, as in {"limitwatch_scenario": 1, "name": "...", "description": "..."})'
        )
    _check_shapes(obj)
    try:
        header = msgspec.convert(obj, ScenarioHeader)
    except msgspec.ValidationError as exc:
        raise BadLine(f"bad scenario header: {exc}") from None
    if not header.name.strip() or not header.name.isprintable():
        raise BadLine("bad scenario header: name must be non-empty printable text")
    if not header.description.isprintable():
        raise BadLine("bad scenario header: description must be one line of printable text")
    for symbol in header.symbols:
        check_symbol(symbol)
    patterns = header.additive_patterns()
    for pattern in patterns:
        if not pattern:
            raise BadLine("bad scenario header: an additive pattern is empty")
        if not pattern.isprintable():
            raise BadLine(f"bad scenario header: additive pattern {pattern!r} is not printable")
    quantity = symbol_matcher(patterns)
    for symbol, (buy, sell) in header.limits_dict().items():
        check_symbol(symbol)
        additive = quantity(symbol)
        problem = limit_problem(buy, sell, additive=additive)
        if problem is not None:
            rule = "buy < sell" if additive else "0 < buy < sell"
            raise BadLine(
                f"bad scenario header: limits for {symbol!r} must satisfy {rule} "
                f"(null for a side without a limit), got "
                f"[{', '.join('null' if math.isnan(x) else repr(x) for x in (buy, sell))}]: "
                f"{problem}"
            )
    _check_engine(header.engine)
    return header


def _unknown_settings(engine: dict[Any, Any]) -> None:
    """Refuse engine settings a header may not carry, naming them."""
    unknown = sorted(str(k) for k in set(engine) - PORTABLE)
    if unknown:
        raise BadLine(
            f"bad scenario header: unknown engine setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(PORTABLE))}"
        )


def _check_engine(engine: dict[str, int | float]) -> None:
    """Refuse engine settings a header may not carry, and values that EngineConfig does
    not accept together with its defaults; the error names the setting.

    A refusal that is about two settings together (``slow`` not above ``fast``, say) is
    left to where the whole configuration is built: there the header's other settings
    and the command line's take part, and the message names the header as its source.
    """
    _unknown_settings(engine)
    for key, value in engine.items():
        if key in HEADER_WINDOWS and isinstance(value, int | float) and value > HEADER_MAX_WINDOW:
            raise BadLine(
                f"bad scenario header: engine setting {key}: {value:,g} ticks is more than a "
                f"scenario may ask for (at most {HEADER_MAX_WINDOW:,}: every symbol's state "
                f"grows with it); take it out of the header and give --{key} instead"
            )
        whole = key in _WHOLE_SETTINGS and isinstance(value, float) and value.is_integer()
        try:
            EngineConfig(**{key: int(value) if whole else value})
        except (TypeError, ValueError) as exc:
            others = _SETTING_NAMES - {key}
            if not any(re.search(rf"\b{name}\b", str(exc)) for name in others):
                raise BadLine(f"bad scenario header: engine setting {key}: {exc}") from None


def read_header(path: str | Path) -> ScenarioHeader:
    """Read and check only the header of the scenario at `path`; raise SourceError if bad."""
    name = str(path)
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise SourceError(name, None, f"cannot open: {exc.strerror}") from None
    with stream:
        for lineno, text, _ in read_lines(stream):
            if isinstance(text, BadLine):
                raise SourceError(name, lineno, str(text))
            if not text.strip():
                continue
            try:
                return header_from_object(required_header(text))
            except BadLine as exc:
                raise SourceError(name, lineno, str(exc)) from None
    raise SourceError(name, 1, "empty file: a scenario starts with a header line")


def required_header(line: str) -> dict[str, Any]:
    """The header object on `line`, the first of a scenario; BadLine if it is not one."""
    obj = header_object(line)
    if obj is None:
        json_object(line)  # a line that is not JSON at all says so first
        raise BadLine(
            f"not a limitwatch scenario: the first line must be a header with {SCENARIO_KEY!r}"
        )
    return obj
