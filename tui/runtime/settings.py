"""Settings that outlive a run: the limit step, notifications, the sort order, the colour
theme, pinned, muted and watched symbols, every symbol's limits and the shape of the ticks on the
topic read, kept as TOML in the user's config directory.

A broken file never stops limitwatch: `load` reports what is wrong (with the line, for a
syntax error) and falls back to defaults for what it could not read.
"""

from __future__ import annotations

import math
import os
import tempfile
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from engine.limits import limit_problem
from producer.fields import Fields, FieldsError
from producer.kafka_config import read_small
from producer.wire import literal, symbol_problem

#: The limit steps ``[`` and ``]`` move between, as fractions of the price: a 1-2-5
#: ladder that holds the default step, so stepping down and back up lands on it again.
STEPS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
MIN_STEP, MAX_STEP = STEPS[0], STEPS[-1]


def next_step(step: float, direction: int) -> float | None:
    """The rung of :data:`STEPS` next to `step`: smaller for -1, larger for +1; None past
    either end. A step between rungs (from ``--step`` or the file) goes to the rung on
    that side of it.

    >>> next_step(0.005, -1), next_step(0.002, 1), next_step(0.003, 1), next_step(0.1, 1)
    (0.002, 0.005, 0.005, None)
    """
    if direction < 0:
        below = [s for s in STEPS if s < step * (1 - 1e-9)]
        return below[-1] if below else None
    above = [s for s in STEPS if s > step * (1 + 1e-9)]
    return above[0] if above else None


#: Orders the watchlist can be sorted in (the `o` key cycles through them).
SORTS = ("symbol", "urgency", "chg", "last")
#: The orders by the words the screen and the README use for them (``sort = "price"``).
SORT_WORDS = {"change": "chg", "price": "last"}
#: Desktop notifications through the terminal's escape sequences: none, OSC 9 (the form
#: iTerm2 introduced) or OSC 777 (urxvt's notify extension); many terminals take one or
#: both, and one that knows neither ignores them.
DESKTOP = ("off", "osc9", "osc777")


def desktop_sequence(kind: str, title: str, body: str) -> str:
    """The escape sequence that asks the terminal for a desktop notification (``kind``
    one of :data:`DESKTOP`; ``""`` for off). Control characters and the separators of
    the sequence are taken out of the texts, so a symbol's name cannot end it early or
    smuggle in another escape.

    >>> desktop_sequence("osc777", "limitwatch", "SELL ACME @ 152.76")
    '\\x1b]777;notify;limitwatch;SELL ACME @ 152.76\\x07'
    >>> desktop_sequence("osc9", "limitwatch", "BUY \\x1b]0;pwned\\x07X")
    '\\x1b]9;limitwatch: BUY ]0pwnedX\\x07'
    """

    def clean(text: str) -> str:
        return "".join(ch for ch in text if ch.isprintable() and ch != ";")

    if kind == "osc9":
        return f"\x1b]9;{clean(title)}: {clean(body)}\x07"
    if kind == "osc777":
        return f"\x1b]777;notify;{clean(title)};{clean(body)}\x07"
    return ""


def default_path() -> Path:
    """config.toml in the user's config directory."""
    return Path(platformdirs.user_config_dir("limitwatch")) / "config.toml"


@dataclass(frozen=True)
class Settings:
    """What the monitor remembers between runs."""

    step: float = 0.005  # limit step per key press, as a fraction of price
    bell: bool = False  # ring the terminal bell on BUY/SELL
    notify: bool = True  # pop up a notification for signals
    desktop: str = "off"  # desktop notifications on BUY/SELL through the terminal (DESKTOP)
    sort: str = "symbol"
    theme: str = "textual-dark"  # the monitor's colour theme (ctrl+p: "Change theme")
    pinned: tuple[str, ...] = ()  # symbols kept at the top of the watchlist
    muted: tuple[str, ...] = ()  # symbols whose signals ring and pop up nothing
    watchlist: tuple[str, ...] = ()  # the only symbols the watchlist shows (empty: all)
    limits: dict[str, tuple[float, float]] = field(default_factory=dict)
    fields: Fields | None = None  # [topic] fields: the shape of a topic another program fills

    def toggled(self, field_name: str, symbol: str) -> Settings:
        """A copy with `symbol` added to, or taken out of, ``pinned`` or ``muted``."""
        current: tuple[str, ...] = getattr(self, field_name)
        if symbol in current:
            return replace(self, **{field_name: tuple(s for s in current if s != symbol)})
        return replace(self, **{field_name: (*current, symbol)})

    def with_limits(self, symbol: str, buy: float, sell: float) -> Settings:
        """A copy with `symbol`'s limits set."""
        limits = dict(self.limits)
        limits[symbol] = (buy, sell)
        return replace(self, limits=limits)


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string: any Unicode as itself (emoji included), quotes,
    backslashes and control characters escaped, so every symbol reads back the same."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:  # a lone surrogate: no file can hold it
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_float(x: float) -> str:
    return "nan" if math.isnan(x) else repr(float(x))


def dumps(settings: Settings) -> str:
    """The TOML text for `settings`."""
    lines = [
        "# limitwatch settings: written when you change one in the monitor; edit freely.",
        "[monitor]",
        f"step = {settings.step!r}",
        f"bell = {'true' if settings.bell else 'false'}",
        f"notify = {'true' if settings.notify else 'false'}",
        "# desktop notifications on BUY/SELL through the terminal: off, osc9 or osc777",
        f"desktop = {_toml_string(settings.desktop)}",
        f"sort = {_toml_string(settings.sort)}",
        f"theme = {_toml_string(settings.theme)}",
        "# symbols kept at the top of the watchlist (key *), and whose signals make no sound",
        "# and no toast (key m)",
        f"pinned = [{', '.join(_toml_string(s) for s in settings.pinned)}]",
        f"muted = [{', '.join(_toml_string(s) for s in settings.muted)}]",
        "# the only symbols the watchlist shows, [] for all of them (key w)",
        f"watchlist = [{', '.join(_toml_string(s) for s in settings.watchlist)}]",
        "",
        "# SYMBOL = [buy, sell]; nan for no limit on that side",
        "[limits]",
    ]
    if settings.fields is not None:
        lines[-2:-2] = [
            "# where symbol, price and time are in a topic another program fills (--fields)",
            "[topic]",
            f"fields = {_toml_string(settings.fields.spec())}",
            "",
        ]
    for symbol in sorted(settings.limits):
        buy, sell = settings.limits[symbol]
        lines.append(f"{_toml_string(symbol)} = [{_toml_float(buy)}, {_toml_float(sell)}]")
    return "\n".join(lines) + "\n"


#: The settings a file may hold, by table (what :func:`dumps` writes).
KNOWN = {
    "monitor": frozenset(
        {"step", "bell", "notify", "desktop", "sort", "theme", "pinned", "muted", "watchlist"}
    ),
    "topic": frozenset({"fields"}),
    "limits": None,  # any symbol
}


def _unknown(data: dict[str, Any], name: str) -> list[str]:
    """A problem for each table or setting limitwatch does not know (a misspelt one would
    otherwise be left out without a word)."""
    problems = []
    for table, value in data.items():
        if table not in KNOWN:
            problems.append(
                f"{name}: [{literal(table)}] is not a table limitwatch reads (it reads "
                f"{', '.join(f'[{t}]' for t in KNOWN)})"
            )
            continue
        known = KNOWN[table]
        if known is not None and isinstance(value, dict):
            problems.extend(
                f"{name}: {table}.{literal(key)} is not a setting limitwatch knows (known: "
                f"{', '.join(sorted(known))})"
                for key in value
                if key not in known
            )
    return problems


def loads(text: str, name: str = "config.toml") -> tuple[Settings, list[str]]:
    """Settings from TOML text, and the problems found (each starts with `name`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Settings(), [f"{name}: {exc}; using the defaults"]
    except RecursionError:  # tomllib reads nested arrays and tables by recursion
        return Settings(), [f"{name}: nested too deeply to be a settings file; using the defaults"]
    problems = _unknown(data, name)
    base = Settings()
    monitor = data.get("monitor", {})
    if not isinstance(monitor, dict):
        problems.append(f"{name}: [monitor] must be a table")
        monitor = {}
    values: dict[str, Any] = {}
    step = monitor.get("step", base.step)
    if isinstance(step, int | float) and MIN_STEP <= step <= MAX_STEP:
        values["step"] = float(step)
    else:
        problems.append(f"{name}: monitor.step must be between {MIN_STEP} and {MAX_STEP}")
    for flag in ("bell", "notify"):
        v = monitor.get(flag, getattr(base, flag))
        if isinstance(v, bool):
            values[flag] = v
        else:
            problems.append(f"{name}: monitor.{flag} must be true or false")
    desktop = monitor.get("desktop", base.desktop)
    if desktop in DESKTOP:
        values["desktop"] = desktop
    else:
        problems.append(f"{name}: monitor.desktop must be one of {', '.join(DESKTOP)}")
    sort = monitor.get("sort", base.sort)
    sort = SORT_WORDS.get(sort, sort) if isinstance(sort, str) else sort
    if sort in SORTS:
        values["sort"] = sort
    else:
        problems.append(
            f"{name}: monitor.sort must be one of symbol, urgency, change (or chg), price (or last)"
        )
    theme = monitor.get("theme", base.theme)
    if isinstance(theme, str) and theme:
        values["theme"] = theme  # whether such a theme exists, the app knows
    else:
        problems.append(f"{name}: monitor.theme must be the name of a theme")
    for key in ("pinned", "muted", "watchlist"):
        listed = monitor.get(key, [])
        if isinstance(listed, list) and all(isinstance(x, str) for x in listed):
            values[key] = tuple(dict.fromkeys(listed))  # once each, in the order given
        else:
            problems.append(f"{name}: monitor.{key} must be a list of symbols")
    limits: dict[str, tuple[float, float]] = {}
    raw_limits = data.get("limits", {})
    if not isinstance(raw_limits, dict):
        problems.append(f"{name}: [limits] must be a table")
        raw_limits = {}
    for symbol, pair in raw_limits.items():
        bad = symbol_problem(symbol)
        if bad is not None:  # as --limit and the limits topic refuse it
            problems.append(f"{name}: limits.{literal(symbol)}: the symbol {bad}")
            continue
        ok = (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in pair)
        )
        if not ok:
            problems.append(f"{name}: limits.{symbol} must be [buy, sell]")
            continue
        # A quantity's limits may be 0 or below (saved from the monitor): the engine,
        # which knows the --additive symbols, refuses a price's with a notice.
        problem = limit_problem(*pair, additive=True)
        if problem is not None:
            problems.append(
                f"{name}: limits.{symbol} = {literal(str(pair))} is impossible ({problem})"
            )
            continue
        limits[symbol] = (float(pair[0]), float(pair[1]))
    topic = data.get("topic", {})
    if not isinstance(topic, dict):
        # (said as topic.fields: a mapping that cannot be read stops a reading command)
        problems.append(
            f"{name}: topic.fields cannot be read: [topic] must be a table, such as "
            '[topic] then fields = "symbol=s,price=p,ts=T:ms" on the next line'
        )
        topic = {}
    raw_fields = topic.get("fields")
    if raw_fields is not None:
        try:
            if not isinstance(raw_fields, str):
                raise FieldsError('expected a text such as "symbol=s,price=p,ts=T:ms"')
            values["fields"] = Fields.parse(raw_fields)
        except FieldsError as exc:
            problems.append(f"{name}: topic.fields: {exc}")
    return Settings(**values, limits=limits), problems


def load(path: Path) -> tuple[Settings, list[str]]:
    """Settings from `path` (defaults if it does not exist) and the problems found."""
    try:
        raw = read_small(path)
    except FileNotFoundError:
        return Settings(), []
    except OSError as exc:
        return Settings(), [f"{path}: {exc.strerror or exc}; using the defaults"]
    except ValueError as exc:
        return Settings(), [f"{path}: {exc}; using the defaults"]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Settings(), [f"{path}: not UTF-8 text; using the defaults"]
    return loads(text, str(path))


def save_target(path: Path, problems: list[str]) -> tuple[Path, str | None]:
    """Where changed settings go, and a note for the user when that is not ``path``.

    A file that did not load cleanly is never overwritten: the user's text would be lost
    for what limitwatch could not read. Changes then go to ``NAME.new.toml`` beside it.
    """
    if not problems or not path.exists():
        return path, None
    beside = path.with_name(f"{path.stem}.new{path.suffix or '.toml'}")
    return beside, f"{path} is left as it is; changes are saved to {beside}"


def _same(a: object, b: object) -> bool:
    """Equal, a nan limit equal to a nan limit."""
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def merged(on_disk: Settings, before: Settings, ours: Settings) -> Settings:
    """``on_disk`` with what changed from ``before`` to ``ours`` applied: a symbol's limits
    set or dropped, and each other setting changed. Two monitors sharing a settings file
    each wrote all of theirs over the other's: one's limits for BRIX, set a minute before,
    were gone at the next start when the other moved ACME's.

    >>> a = Settings(limits={"ACME": (1.0, 2.0)})
    >>> disk = Settings(step=0.01, limits={"ACME": (1.0, 2.0), "BRIX": (3.0, 4.0)})
    >>> m = merged(disk, a, a.with_limits("ACME", 1.5, 2.0))
    >>> m.step, sorted(m.limits.items())
    (0.01, [('ACME', (1.5, 2.0)), ('BRIX', (3.0, 4.0))])
    """
    changes: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "limits":
            limits = dict(on_disk.limits)
            for symbol in before.limits.keys() | ours.limits.keys():
                now = ours.limits.get(symbol)
                if not _same(now, before.limits.get(symbol)):
                    if now is None:
                        limits.pop(symbol, None)
                    else:
                        limits[symbol] = now
            changes["limits"] = limits
        elif not _same(getattr(ours, f.name), getattr(before, f.name)):
            changes[f.name] = getattr(ours, f.name)
    return replace(on_disk, **changes)


def save(path: Path, settings: Settings) -> None:
    """Write `settings` to `path` atomically (a crash leaves the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dumps(settings))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
