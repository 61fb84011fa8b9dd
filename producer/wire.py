"""The tick as it travels on Kafka: a msgspec Struct encoded as JSON.

JSON keeps the topic readable by standard Kafka tools; the field constraints make
hostile or malformed messages fail decoding instead of reaching the engine.
"""

from __future__ import annotations

import enum
import json
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Annotated, Any
from unicodedata import category

import msgspec

from engine.limits import MAX_PRICE, MIN_PRICE

#: Longest symbol accepted on the wire, in characters.
MAX_SYMBOL_LEN = 64
#: Largest message value accepted before decoding, in bytes.
MAX_MESSAGE_BYTES = 4096


class Tick(msgspec.Struct, frozen=True, forbid_unknown_fields=False, omit_defaults=True, gc=False):
    """One price observation: which symbol, what price, when (epoch seconds, event time).

    ``resent`` marks a tick the producer sent again after its broker came back (it may
    have been read already), and ``round`` which of the producer's sendings again it came
    in (a reader matches the copies of one round against the ticks it read, each round
    afresh); ``retry`` marks, among those, a tick whose first sending was never
    confirmed (it timed out): newer ticks of its symbol may have been read meanwhile, so
    a reader cannot take it as read for being older than they are (2,282 of 120,000
    ticks, never read, were dropped so while a slow broker timed requests out). All are
    left out of the JSON when not set, so ordinary ticks are
    ``{"symbol":..,"price":..,"ts":..}``.
    """

    symbol: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SYMBOL_LEN)]
    price: Annotated[float, msgspec.Meta(ge=MIN_PRICE, lt=MAX_PRICE)]
    ts: Annotated[float, msgspec.Meta(ge=0.0, lt=1e11)]
    resent: bool = False
    round: int = 0
    retry: bool = False


class _Quantity(msgspec.Struct, frozen=True, forbid_unknown_fields=False, gc=False):
    """A tick whose value may be 0 or below: read only for a symbol the reader takes as a
    quantity rather than a price (see :func:`decode`)."""

    symbol: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SYMBOL_LEN)]
    price: Annotated[float, msgspec.Meta(gt=-MAX_PRICE, lt=MAX_PRICE)]
    ts: Annotated[float, msgspec.Meta(ge=0.0, lt=1e11)]
    resent: bool = False
    round: int = 0
    retry: bool = False


class Problem(enum.Enum):
    """Why a message was refused, in the words the monitor counts it under.

    Decoding finds the first five; the engine the sixth (a new symbol when it tracks
    ``max_symbols`` already); the consumer's plausibility checks
    (:mod:`tui.runtime.plausibility`) the last two.
    """

    NOT_JSON = "not JSON"
    WRONG_SHAPE = "wrong shape"
    BAD_PRICE = "bad price"
    BAD_SYMBOL = "bad symbol"
    TOO_LARGE = "too large"
    REFUSED_SYMBOL = "refused symbol"
    FUTURE_TIME = "future time"
    OLD_TIME = "old time"
    IMPLAUSIBLE_JUMP = "implausible jump"


#: Why a message of JSON nested too deeply to decode is refused (1,900 levels were said
#: to be "not JSON: RecursionError: maximum recursion depth exceeded").
NESTED = "JSON nested too deeply: a tick is one flat object"


class BadTick(ValueError):
    """A message that is not a valid tick; the text says why, ``problem`` under which
    heading it is counted."""

    def __init__(self, text: str, problem: Problem) -> None:
        super().__init__(text)
        self.problem = problem


def _invalid(exc: msgspec.ValidationError) -> BadTick:
    """The heading of a field that failed its type or bounds: msgspec names the field."""
    text = str(exc)
    hint = ""
    if text.endswith("`$.price`"):
        problem = Problem.BAD_PRICE
    elif text.endswith("`$.symbol`"):
        problem = Problem.BAD_SYMBOL
    elif text.endswith("`$.ts`") and " < " in text:  # e.g. milliseconds sent as seconds
        problem = Problem.FUTURE_TIME
    else:
        problem = Problem.WRONG_SHAPE
        if "missing required field" in text:
            hint = " (ticks of another shape are read with --fields)"
    return BadTick(f"invalid tick: {text}{hint}", problem)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Tick)
_quantity_decoder = msgspec.json.Decoder(_Quantity)
#: Symbols already checked for control characters; symbols repeat, so most ticks skip
#: the check. Bounded, so hostile streams of new names cannot grow it without limit.
_checked_symbols: set[str] = set()
_MAX_CHECKED = 100_000


def _as_quantity(value: bytes, quantity: Callable[[str], bool], bad: BadTick) -> Tick:
    """The message as a tick of a quantity (its value 0 or below), or ``bad`` raised:
    the rare path, taken only for a price the strict decoder refused."""
    try:
        got = _quantity_decoder.decode(value)
    except msgspec.ValidationError as exc:
        # A quantity's own problem (a time ahead, a value beyond any), else the price's.
        again = _invalid(exc)
        symbol = _symbol_of(value)
        raise (again if symbol is not None and quantity(symbol) else bad) from None
    except (msgspec.DecodeError, RecursionError):  # nested too deeply: no tick either way
        raise bad from None
    if not quantity(got.symbol):
        raise bad
    return Tick(got.symbol, got.price, got.ts, got.resent, got.round, got.retry)


class _Named(msgspec.Struct, forbid_unknown_fields=False, gc=False):
    symbol: str


_named_decoder = msgspec.json.Decoder(_Named)


def _symbol_of(value: bytes) -> str | None:
    """The symbol a message names, if it names one as text."""
    try:
        return _named_decoder.decode(value).symbol
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None


def encode(tick: Tick) -> bytes:
    """Encode a tick as compact JSON bytes."""
    return _encoder.encode(tick)


class _Timed(msgspec.Struct, forbid_unknown_fields=False):
    ts: float


_timed_decoder = msgspec.json.Decoder(_Timed)


def event_time(value: bytes | None) -> float:
    """The event time of an encoded tick (as :func:`encode` made it); inf for anything
    else.

    >>> event_time(encode(Tick("A", 1.0, 12.5))), event_time(b"x")
    (12.5, inf)
    """
    try:
        return _timed_decoder.decode(value or b"").ts
    except (msgspec.DecodeError, RecursionError):
        return math.inf


#: The mark :func:`mark_resent` puts before the closing brace of an encoded tick.
_RESENT_MARK = re.compile(rb',"resent":true(?:,"round":\d+)?(?:,"retry":true)?\}\Z')


#: How a copy marked as a retry (:func:`mark_resent`) ends.
RETRY_TAIL = b',"retry":true}'


def mark_resent(value: bytes, round_: int = 0, retry: bool = False) -> bytes:
    """An encoded tick (as :func:`encode` made it) marked as sent again in round
    ``round_`` (a mark of an earlier round replaced), and as a ``retry`` (its first
    sending never confirmed: see :class:`Tick`); other values are returned unchanged.

    >>> tick = encode(Tick("A", 1.0, 2.0))
    >>> mark_resent(tick, 7)
    b'{"symbol":"A","price":1.0,"ts":2.0,"resent":true,"round":7}'
    >>> mark_resent(mark_resent(tick, 7, retry=True), 8)
    b'{"symbol":"A","price":1.0,"ts":2.0,"resent":true,"round":8}'
    >>> decode(mark_resent(tick, 9, retry=True)).retry
    True
    """
    if not value.endswith(b"}"):
        return value
    mark = _RESENT_MARK.search(value)
    plain = value if mark is None else value[: mark.start()] + b"}"
    tail = b',"resent":true' + (b',"round":%d' % round_ if round_ else b"")
    return plain[:-1] + tail + (RETRY_TAIL if retry else b"}")


def check_value(value: bytes | None) -> bytes:
    """The message value, or BadTick when there is none or it is over
    :data:`MAX_MESSAGE_BYTES`: the checks every decoder makes before parsing."""
    if not value:  # none (a tombstone) or zero bytes: no tick either way
        raise BadTick("empty message (no value)", Problem.WRONG_SHAPE)
    if len(value) > MAX_MESSAGE_BYTES:
        raise BadTick(
            f"message of {len(value)} bytes exceeds {MAX_MESSAGE_BYTES}", Problem.TOO_LARGE
        )
    return value


def decode_batch(values: list[bytes | None]) -> list[Tick] | None:
    """Decode the values of a batch of messages at once, one tick each, or None where any
    of them is not a plain tick (no value, too large, not JSON, a field out of bounds, a
    symbol with control characters, a price at 0 or below): then :func:`decode` each, to
    say which and why. The usual batch, all valid, is parsed in one call of msgspec's C
    decoder instead of one Python call per message.

    The values are joined by newlines and read as JSON lines, so no value may hold a
    newline of its own (it could make two ticks of one message, or one of two) and none
    may be blank (a blank line is skipped, and two ticks side by side on one line are
    both read): the newlines of the joined buffer are counted, blank values refused, and
    then as many ticks as values means one tick from each.

    >>> ok = [b'{"symbol":"A","price":1.5,"ts":2}', b'{"symbol":"B","price":2,"ts":3}']
    >>> [t.symbol for t in decode_batch(ok)]
    ['A', 'B']
    >>> decode_batch([*ok, b'{"symbol":"C","price":0,"ts":3}']) is None
    True
    >>> two = b'{"symbol":"A","price":1,"ts":1,"x":"', b'"},{"symbol":"B","price":1,"ts":1}'
    >>> decode_batch(list(two)) is None  # neither is a tick, though joined they read as two
    True
    >>> decode_batch([ok[0] + b" " + ok[1], b""]) is None  # two ticks in one, and a blank
    True
    """
    if not values:
        return []
    try:
        buf = b"\n".join(values)  # type: ignore[arg-type]  # None or str: TypeError
    except TypeError:
        return None
    if buf.count(b"\n") != len(values) - 1:
        return None
    # Each field named once a message ({"symbol":"ACME",...,"symbol":"BRIX"} is read as
    # BRIX): more names than messages (a field twice, or a value that reads "price") is
    # read one by one, where decode() looks closely. With no escape in the batch a name
    # is written only as counted, so fewer in one message cannot make up for more in
    # another (a message that lacks a field fails the decoding below).
    if b"\\" in buf or any(buf.count(name) != len(values) for name in _TICK_NAMES):
        return None
    # JSON lines skip a blank line and read values side by side on one: with no blank
    # value, as many ticks as lines means one tick on each.
    if b"" in values or any(map(bytes.isspace, values)):  # type: ignore[arg-type]
        return None
    if max(map(len, values)) > MAX_MESSAGE_BYTES:  # type: ignore[arg-type]
        return None
    try:
        ticks = _decoder.decode_lines(buf)
    except Exception:  # any failure: the messages are decoded one by one, which says why
        return None
    if len(ticks) != len(values):  # a line with two ticks side by side
        return None
    new = {t.symbol for t in ticks}.difference(_checked_symbols)
    return ticks if all(map(_clean_symbol, new)) else None


def decode(value: bytes | None, quantity: Callable[[str], bool] | None = None) -> Tick:
    """Decode one message value into a Tick, or raise BadTick with a readable reason.

    Every failure mode is folded into BadTick: oversize payloads, invalid JSON, invalid
    UTF-8, wrong types, out-of-range or non-finite numbers, control characters in the
    symbol. A price must be positive, except for a symbol ``quantity`` takes as a
    quantity rather than a price (the engine's ``additive`` symbols: a gauge at 0, a
    spread below 0), whose value may be 0 or below.
    """
    value = check_value(value)
    try:
        tick = _decoder.decode(value)
    except msgspec.ValidationError as exc:
        # The value refused may be the first of a field given twice: said as that (a
        # price given as -5 and then as 100 was refused as "bad price").
        twice = given_twice(value)
        if twice:
            raise BadTick(f"the field {twice} is given twice", Problem.WRONG_SHAPE) from None
        bad = _invalid(exc)
        if quantity is None or bad.problem is not Problem.BAD_PRICE:
            raise bad from None
        tick = _as_quantity(value, quantity, bad)
    except msgspec.DecodeError as exc:
        raise BadTick(f"not JSON: {exc}", Problem.NOT_JSON) from None
    except RecursionError:  # JSON nested thousands deep: valid, but no tick
        raise BadTick(NESTED, Problem.WRONG_SHAPE) from None
    except Exception as exc:  # UnicodeDecodeError and anything else a hostile payload triggers
        raise BadTick(f"undecodable: {type(exc).__name__}: {exc}", Problem.NOT_JSON) from None
    # JSON has no NaN or infinity, and the field bounds refuse overflowed numbers, so
    # price and ts are finite here.
    if tick.symbol not in _checked_symbols and not _clean_symbol(tick.symbol):
        raise BadTick(f"symbol {symbol_problem(tick.symbol)}", Problem.BAD_SYMBOL)
    twice = given_twice(value)
    if twice:
        raise BadTick(f"the field {twice} is given twice", Problem.WRONG_SHAPE)
    return tick


#: The fields of a tick as they appear in its JSON: each once in a message (a value that
#: reads "price" also counts, and is then looked at closely, as is a message with any
#: escape, which may spell a name: "sym\u0062ol"). A file's line may name its time "time".
FIELD_NAMES = (b'"symbol"', b'"price"', b'"ts"', b'"time"')
#: Those of a tick on the wire, each in every message.
_TICK_NAMES = FIELD_NAMES[:3]


#: A tick's fields as paths into a message of limitwatch's own shape.
_TICK_PATHS = (("symbol",), ("price",), ("ts",), ("time",))


def given_twice(value: bytes) -> str | None:
    """The first of a tick's fields that the JSON object ``value`` holds twice, if any
    (:func:`twice_in` of limitwatch's own shape)."""
    return twice_in(value, _TICK_PATHS, FIELD_NAMES)


def twice_in(value: bytes, paths: Sequence[Sequence[str]], names: Sequence[bytes]) -> str | None:
    """The first of ``paths`` (names from the top of the JSON object ``value``) that
    ``value`` gives twice, or the object on its way given twice (``data`` of ``data.p``),
    if any. Looked for only where one of ``names`` (those on the paths, quoted as written
    without an escape) shows more than once, or a backslash might spell one
    ("sym\\u0062ol"). A decoder keeps the last (``{"symbol":"ACME",...,"symbol":"BRIX"}``
    was a tick of BRIX: a false crossing at ACME's price); other programs may keep the
    first.

    >>> twice_in(b'{"d":{"p":1,"p":2}}', [("d", "p")], [b'"d"', b'"p"'])
    'd.p'
    """
    # 92, a backslash: found faster as a byte than as b"\\"
    if 92 not in value and not any(value.count(name) > 1 for name in names):
        return None
    try:
        root = json.loads(value, object_pairs_hook=_Pairs.of)
    except ValueError:
        return None
    except RecursionError:  # nested deeper than json reads, though msgspec read it
        return f"{'.'.join(paths[0])} (or another, nested too deeply to tell)"
    for path in paths:
        node = root
        for depth, name in enumerate(path, 1):
            if not isinstance(node, _Pairs):
                break
            if name in node.twice:
                return ".".join(path[:depth])
            node = node.get(name)
    return None


def name_twice(value: bytes) -> str | None:
    """A name that some object of the JSON text ``value``, at any depth, gives twice (the
    first found from the top), if any; None also where json cannot read it.

    >>> name_twice(b'{"a": 1, "b": {"c": 2, "c": 3}}'), name_twice(b'{"a": 1}')
    ('c', None)
    """
    try:
        root = json.loads(value, object_pairs_hook=_Pairs.of)
    except (ValueError, RecursionError):
        return None
    nodes = [root]
    while nodes:
        node = nodes.pop(0)
        if isinstance(node, _Pairs):
            if node.twice:
                return min(node.twice)
            nodes += node.values()
        elif isinstance(node, list):
            nodes += node
    return None


class _Pairs(dict[str, Any]):
    """A JSON object as json reads it (a name's last value kept, as msgspec keeps it),
    with the names it gives more than once."""

    twice: frozenset[str] = frozenset()

    @classmethod
    def of(cls, items: list[tuple[str, Any]]) -> _Pairs:
        """json's object_pairs_hook: called for each object, inner ones first."""
        obj = cls(items)
        if len(obj) != len(items):  # rare: only then are the names counted
            seen: set[str] = set()
            twice: set[str] = set()
            for name, _ in items:
                (twice if name in seen else seen).add(name)
            obj.twice = frozenset(twice)
        return obj


def clean_symbol(symbol: str) -> bool:
    """Whether a symbol is free of control characters and surrounding spaces and draws
    something: what every symbol limitwatch takes in (ticks, lines of a file, limit
    records, what --view reads) must be, so that none can drive the terminal or pass for
    another (see :func:`symbol_problem`)."""
    return symbol_problem(symbol) is None


#: Characters Python calls printable that draw nothing: the Hangul fillers and the blank
#: braille pattern. A symbol of these alone (or of spaces and combining marks between
#: them) was a row with no name.
_DRAW_NOTHING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def symbol_problem(symbol: str) -> str | None:
    """What is wrong with a symbol (its words follow "symbol"), or None.

    >>> symbol_problem("BTC-USD"), symbol_problem("A\x1bB"), symbol_problem(" A")
    (None, 'has a control character (U+001B)', 'has surrounding spaces')
    >>> symbol_problem("\U0001f468\u200d\U0001f469")
    'has a non-printing character (U+200D ZERO WIDTH JOINER)'
    >>> symbol_problem("\u2800\u2800"), symbol_problem("日本株")
    ('draws nothing: its characters are all blank', None)

    The character is named: an emoji joined by U+200D was refused as having "control
    characters or surrounding spaces", which it has not. (Non-printing characters are
    refused, spaces other than the plain one too: with them two symbols that look alike
    are two symbols.)
    """
    if not symbol.isprintable():
        c = next(c for c in symbol if not c.isprintable())
        kind = "a control character" if category(c) == "Cc" else "a non-printing character"
        name = unicodedata.name(c, "")
        return f"has {kind} (U+{ord(c):04X}{' ' + name if name else ''})"
    if symbol.strip() != symbol:
        return "has surrounding spaces"
    if symbol.isascii():
        return None
    for c in symbol:
        if c not in _DRAW_NOTHING and not c.isspace() and category(c) not in ("Mn", "Me"):
            return None
    return "draws nothing: its characters are all blank"


def literal(text: str, keep: str = "") -> str:
    r"""`text` safe to draw: characters a terminal would act on (escape, bell, other
    control and format characters) are shown as Python escapes instead, except those in
    `keep` (say, newlines in a message).

    >>> literal("A\x1b[31mB")
    'A\\x1b[31mB'
    """
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c in keep else c.encode("unicode_escape").decode() for c in text
    )


def _clean_symbol(symbol: str) -> bool:
    """:func:`clean_symbol` for a symbol not checked yet; a clean one is remembered as
    checked (up to :data:`_MAX_CHECKED`)."""
    if not clean_symbol(symbol):
        return False
    if len(_checked_symbols) < _MAX_CHECKED:
        _checked_symbols.add(symbol)
    return True
