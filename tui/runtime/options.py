"""Command-line option types and the engine options shared by every limitwatch command.

Engine options default to None so that a scenario header's suggestions apply unless the
user overrides them: defaults < the file's header < the command line.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Any

from engine import EngineConfig
from engine.config import SETTINGS
from engine.limits import LimitError, check_limits, limit_problem
from producer.lines import BadLine, check_symbol
from tui.runtime.plausibility import MAX_AHEAD_S, MAX_BEHIND_S, MAX_JUMP

Limits = dict[str, tuple[float, float]]


class OptionError(ValueError):
    """Settings that cannot work together; the text says which."""


def _whole(text: str) -> int:
    """``text`` as a whole number, or the usage error that says it is not one."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


#: Most partitions a topic is created with (100,000 hung the monitor, deaf to q and SIGTERM,
#: while the broker made them), and that a backtest calibrates by.
MOST_PARTITIONS = 1_000


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def at_most(most: int) -> Callable[[str], int]:
    """A whole number from 1 to ``most``."""

    def parse(text: str) -> int:
        value = positive_int(text)
        if value > most:
            raise argparse.ArgumentTypeError(f"expected at most {most:,}, got {value:,}")
        return value

    return parse


def port(text: str) -> int:
    """A TCP port: a whole number from 1 to 65535."""
    value = _whole(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port lies between 1 and 65535, got {value}")
    return value


def at_least_float(least: float, why: str) -> Callable[[str], float]:
    """A finite number of at least ``least``; ``why`` says why in the error."""

    def parse(text: str) -> float:
        value = positive_float(text)
        if value < least:
            raise argparse.ArgumentTypeError(f"expected at least {least:g}, got {text}: {why}")
        return value

    return parse


def seed(text: str) -> int:
    """A generator seed: a whole number from 0 to 2**63 - 1."""
    value = _whole(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"a seed lies between 0 and 2**63 - 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if math.isinf(value) and value > 0 and "inf" not in text.lower():
        raise argparse.ArgumentTypeError(f"{text!r} is too large a number")
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def probability(text: str) -> float:
    """A probability strictly between 0 and 1."""
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a probability below 1, got {text!r}")
    return value


def probability_or_zero(text: str) -> float:
    """A probability of at least 0 and below 1."""
    value = non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a probability below 1, got {text!r}")
    return value


#: Characters a Kafka topic name may hold, and its longest length.
_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
_TOPIC_MOST = 249


def topic(text: str) -> str:
    """A Kafka topic name: 1 to 249 letters, digits, '.', '_' or '-', not '.' or '..'.
    (An empty name was taken: `produce --topic ''` reported every tick delivered.)"""
    if not text:
        raise argparse.ArgumentTypeError("a topic needs a name")
    bad = sorted(set(text) - _TOPIC_CHARS)
    if bad or text in (".", "..") or len(text) > _TOPIC_MOST:
        raise argparse.ArgumentTypeError(
            f"{text[:60]!r} is not a Kafka topic name: 1 to {_TOPIC_MOST} letters, digits, "
            "'.', '_' or '-', and not '.' or '..' alone"
        )
    if text.startswith("__"):  # __consumer_offsets took a tick: the group's offsets' topic
        raise argparse.ArgumentTypeError(
            f"{text!r} is a name Kafka keeps for its internal topics (those starting with "
            "'__'): choose another"
        )
    return text


def group(text: str) -> str:
    """A consumer group id: not empty (librdkafka took '' and committed offsets nobody
    could read back: each run read the topic from the start, signals and all, again)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a consumer group needs a name")
    return text


def optional_topic(text: str) -> str:
    """A topic name, or '' for none."""
    return text if text == "" else topic(text)


def step_fraction(text: str) -> float:
    """A limit step: a fraction from 0.01% to 10%, as the settings file's."""
    from tui.runtime.settings import MAX_STEP, MIN_STEP

    value = fraction(text)
    if not MIN_STEP <= value <= MAX_STEP:
        said = f"a step lies between {MIN_STEP:.2%} and {MAX_STEP:.0%} of the price, got {text!r}"
        raw = text.strip()
        if not raw.endswith("%") and value > MAX_STEP:  # 0.5 meant as half a percent
            said += f" (a number without % is a fraction: {raw} is {value * 100:g}%; write {raw}%)"
        raise argparse.ArgumentTypeError(said)
    return value


def band(text: str) -> float:
    """A band around the first price, as :func:`fraction`, at least 0.0001%."""
    from engine.config import MIN_BAND

    value = fraction(text)
    if value < MIN_BAND:
        raise argparse.ArgumentTypeError(
            f"a band is at least {MIN_BAND * 100:g}% of the price (narrower, the buy and the "
            f"sell limit are the same number), got {text!r}"
        )
    return value


def fraction(text: str) -> float:
    """A fraction below 1, written as 0.005 or as a percentage, 0.5%."""
    raw = text.strip()
    if not raw.endswith("%"):
        value = positive_float(raw)
    else:
        try:
            value = positive_float(raw[:-1]) / 100
        except argparse.ArgumentTypeError as exc:  # said of the text as given, its % kept
            raise argparse.ArgumentTypeError(str(exc).replace(repr(raw[:-1]), repr(text))) from None
    if value >= 1:
        raise argparse.ArgumentTypeError(
            f"expected a percentage below 100% such as 3% (or a fraction such as 0.03), "
            f"got {text!r}"
        )
    return value


#: Digits grouped in thousands by commas, as in 1,500 or 12,345.67: the only commas read.
_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?")
#: A number as people write one: ASCII digits with a point, an exponent at most (no `_`
#: separators, no `nan`, `inf`, hexadecimal or other scripts' digits, which Python's
#: float() would take: ٣٤٥ was set as 345).
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
#: The most characters of a refused text quoted back (a pasted page pushed the dialog's
#: buttons off the screen).
_QUOTED_MOST = 24


def _quoted(text: str) -> str:
    """``text`` quoted in a message, cut to :data:`_QUOTED_MOST` characters."""
    return repr(text if len(text) <= _QUOTED_MOST else text[: _QUOTED_MOST - 1] + "…")


def parse_limit(text: str) -> float:
    """A limit typed by the user (in the limits dialog, or a side of ``--limit``) as a
    number: empty, '-' or 'none' for no limit (NaN).

    A comma is read only where it groups thousands (``1,500.25``); anywhere else
    (``150,5``, ``1,0.5``) it is refused rather than guessed at, since it may be meant
    as a decimal separator.

    Only the text is read here; whether the value can be a limit is the one rule of
    :func:`engine.limits.limit_problem`, applied by :func:`check_limits`.
    """
    raw = text.strip()
    if raw in ("", "-", "none"):
        return math.nan
    if "," in raw:
        if not _GROUPED.fullmatch(raw):
            raise ValueError(
                f"{_quoted(raw)}: a comma only groups thousands (1,500.25); "
                "type a point for decimals (150.5)"
            )
        raw = raw.replace(",", "")
    if not _NUMBER.fullmatch(raw):
        # float() would read 150_5 as 1505 and nan as no limit, without a word.
        raise ValueError(
            f"{_quoted(text.strip())} is not a number (digits and a point, e.g. 150.5)"
        )
    value = float(raw)
    if math.isinf(value):
        # Digits float() rounds to infinity (1e400): say so rather than "got inf".
        raise ValueError(f"{_quoted(text.strip())} is too large a number to be a limit")
    return value


def limit(text: str) -> tuple[str, float, float]:
    """SYMBOL=BUY:SELL with BUY < SELL, finite; a side left empty (or ``none``) has no
    limit (nan), as a scenario header's null; whether they may be 0 or below (a
    quantity's, see --additive and scenario headers) the engine decides, and says.

    >>> limit("ACME=95:105"), limit("ACME=:105"), limit("cpu.user=none:85")
    (('ACME', 95.0, 105.0), ('ACME', nan, 105.0), ('cpu.user', nan, 85.0))
    """

    try:
        symbol, rest = text.rsplit("=", 1)
        buy_text, sell_text = rest.split(":", 1)  # ValueError unless there are two
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected SYMBOL=BUY:SELL (a side left empty has no limit), got {text!r}"
        ) from None
    sides: list[float | None] = []
    for name, value in (("buy", buy_text), ("sell", sell_text)):
        # Read as the limits dialog reads them (float() took 9_9 as 99, ٩٩ and ９９ too).
        try:
            number = parse_limit(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {name}: {exc}") from None
        sides.append(None if math.isnan(number) else number)
    buy_given, sell_given = sides
    if not symbol:
        raise argparse.ArgumentTypeError(f"{text!r}: need a symbol before '='")
    try:
        check_symbol(symbol)  # as a tick's symbol must be: it could never match one
    except BadLine as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    given = [x for x in sides if x is not None]
    if not given:
        raise argparse.ArgumentTypeError(f"{text!r}: give a buy limit, a sell limit or both")
    buy = math.nan if buy_given is None else buy_given
    sell = math.nan if sell_given is None else sell_given
    # Limits at 0 or below may be a quantity's: checked against --additive later.
    problem = limit_problem(buy, sell, additive=not (buy > 0 and sell > 0))
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{text!r}: {problem}")
    return symbol, buy, sell


def non_negative_int(text: str) -> int:
    """A whole number of at least 0."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected at least 0, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number of at least zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, got {text!r}")
    return value


def seconds_or_off(text: str) -> float:
    """Seconds of at least 0, or ``off`` (no bound: infinity)."""
    if text.strip().lower() == "off":
        return math.inf
    try:
        return non_negative_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected seconds (a number of at least 0) or off, got {text!r}"
        ) from None


def factor_or_off(text: str) -> float:
    """A factor above 1, or ``off`` (no bound: infinity)."""
    if text.strip().lower() == "off":
        return math.inf
    value = positive_float(text)
    if value <= 1:
        raise argparse.ArgumentTypeError(f"expected a factor above 1 (or off), got {text!r}")
    return value


def add_plausibility_options(p: argparse.ArgumentParser) -> None:
    """--max-ahead, --max-behind and --max-jump: the consumer's checks on ticks that decode but are
    implausible (see :mod:`tui.runtime.plausibility`, where the defaults live)."""
    g = p.add_argument_group("refused as implausible (copied to the dead-letter topic)")
    g.add_argument(
        "--max-ahead", type=seconds_or_off, default=MAX_AHEAD_S, metavar="S",
        help="refuse event times more than S seconds ahead of this machine's clock, or "
        f"off (default: {MAX_AHEAD_S:g})",
    )  # fmt: skip
    g.add_argument(
        "--max-behind", type=seconds_or_off, default=MAX_BEHIND_S, metavar="S",
        help="refuse event times more than S seconds behind their symbol's latest, or off "
        f"(default: {MAX_BEHIND_S:g}; a tick less late is taken at the latest time)",
    )  # fmt: skip
    g.add_argument(
        "--max-jump", type=factor_or_off, default=None, metavar="FACTOR",
        help="refuse a price more than FACTOR times above or below its symbol's last one, "
        f"or off (default: {MAX_JUMP:g}; off for system metrics and scenarios whose header "
        "says price_jumps)",
    )  # fmt: skip


#: How the command line reads each kind of engine setting (see engine.config.Setting).
_PARSERS = {
    "count": positive_int,
    "count0": non_negative_int,
    "seconds": positive_float,
    "seconds0": non_negative_float,
    "seconds_off": seconds_or_off,
    "probability": probability,
    "probability0": probability_or_zero,
    "fraction": fraction,
    "band": band,
}


def add_additive_option(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--additive: the symbols that are quantities rather than prices."""
    p.add_argument(
        "--additive", action="append", default=[], metavar="PATTERN",
        help="symbols whose values are quantities, not prices (a shell pattern such as "
        "'cpu.*', repeatable): forecast in their own units, may be 0 or below; system "
        "metrics and scenarios whose header lists them already are",
    )  # fmt: skip


#: The settings of a command that draws no chart (``skip`` of :func:`add_engine_options`;
#: :func:`engine_config` with ``chart=False`` keeps no history).
NO_CHART = frozenset({"history"})


def add_engine_options(
    p: argparse.ArgumentParser, *, limits: bool = True, skip: frozenset[str] = frozenset()
) -> None:
    """--limit and one option per engine setting, all defaulting to the file's header.

    The options are derived from :data:`engine.config.SETTINGS`, where each setting is
    declared once with its option name and help; ``skip`` names settings a command
    decides itself, and ``limits=False`` leaves out --limit.
    """
    if limits:
        p.add_argument(
            "--limit", type=limit, action="append", default=[], metavar="SYMBOL=BUY:SELL",
            help="a symbol's limits (repeatable; a side left empty, as in ACME=:105, has "
            "none); default: the source's, else --band",
        )  # fmt: skip
    g = p.add_argument_group("engine (default: the file's header, else the engine's defaults)")
    add_additive_option(g)
    for setting in SETTINGS:
        if setting.name in skip:
            continue
        # A setting with no fixed default says in its help what it follows instead.
        default = "" if setting.default is None else f" ({setting.default:g})"
        g.add_argument(
            setting.option,
            dest=setting.name,
            type=_PARSERS[setting.parse],
            metavar=setting.metavar,
            help=f"{setting.help}{default}",
        )


def engine_config(
    args: argparse.Namespace,
    suggested: dict[str, Any] | None = None,
    origin: str = "the file",
    *,
    chart: bool = True,
) -> EngineConfig:
    """EngineConfig from the options, else the file's suggestions, else the defaults.

    ``origin`` names where ``suggested`` came from (a scenario's header), for errors.
    Without a ``chart`` (a headless engine, a backtest, an evaluation) no chart history
    is kept, whatever a file suggests: that ring is most of each symbol's memory.
    """
    settings: dict[str, Any] = dict(suggested or {})
    if not chart:
        settings["history"] = 0
    given: set[str] = set()
    for setting in SETTINGS:
        value = getattr(args, setting.name, None)
        if value is not None:
            settings[setting.name] = value
            given.add(setting.name)
    # The file's settings still in force: an error they cause names them and their source.
    from_file = {k: v for k, v in (suggested or {}).items() if k not in given}
    for setting in SETTINGS:
        value = settings.get(setting.name)
        if setting.kind is int and isinstance(value, float) and value.is_integer():
            settings[setting.name] = int(value)
    if "history" not in settings and "slow" in settings:
        settings["history"] = max(EngineConfig().history, int(settings["slow"]))
    known = {s.name for s in SETTINGS}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise OptionError(f"engine setting(s) not understood: {', '.join(unknown)}")
    try:
        return EngineConfig(**settings)
    except (TypeError, ValueError) as exc:
        # Name the settings from the file that the message mentions, and their source.
        named = {k: v for k, v in from_file.items() if re.search(rf"\b{k}\b", str(exc))}
        where = ""
        if named:
            shown = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in named.items())  # fmt: skip
            flags = [s.option for s in SETTINGS if s.name in named]
            verb = "takes" if len(flags) == 1 else "take"
            wins = f"; {' and '.join(flags)} {verb} precedence" if flags else ""
            where = f" ({origin} sets {shown}{wins})"
        # A setting given on the command line by the name it was given there.
        said = str(exc)
        for setting in SETTINGS:
            if setting.name in given:
                said = re.sub(rf"\b{setting.name}\b", setting.option, said)
        raise OptionError(f"bad engine settings: {said}{where}") from None


def header_of(spec: str) -> str:
    """How errors name the header of the scenario ``spec`` (a path, or - for stdin)."""
    return "the header on standard input" if spec == "-" else f"the header of {spec}"


def impossible_limit(args: argparse.Namespace, quantity: Callable[[str], bool]) -> str:
    """Why a --limit cannot be set, as the engine would refuse it ("" when all can), a
    symbol that ``quantity`` takes being a quantity (its limits may be 0 or below): said
    before anything starts. (`limitwatch engine --limit ACME=-5:10` said it, ran on, and
    ended with code 1 at Ctrl-C.)"""
    for symbol, buy, sell in args.limit:
        try:
            check_limits(buy, sell, symbol, additive=quantity(symbol))
        except LimitError as exc:
            return f"--limit {exc}"
    return ""


def limits_from(args: argparse.Namespace, suggested: Limits | None = None) -> Limits:
    """The source's limits overridden by --limit options."""
    limits: Limits = dict(suggested or {})
    limits.update({sym: (buy, sell) for sym, buy, sell in args.limit})
    return limits
