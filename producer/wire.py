"""The tick as it travels on Kafka: a msgspec Struct encoded as JSON.

JSON keeps the topic readable by standard Kafka tools; the field constraints make
hostile or malformed messages fail decoding instead of reaching the engine.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Annotated

import msgspec

from engine.limits import MAX_PRICE

#: Longest symbol accepted on the wire, in characters.
MAX_SYMBOL_LEN = 64
#: Largest message value accepted before decoding, in bytes.
MAX_MESSAGE_BYTES = 4096


class Tick(msgspec.Struct, frozen=True, forbid_unknown_fields=False, omit_defaults=True, gc=False):
    """One price observation: which symbol, what price, when (epoch seconds, event time).

    ``resent`` marks a tick the producer sent again after its broker came back (it may
    have been read already); it is left out of the JSON when false, so ordinary ticks are
    ``{"symbol":..,"price":..,"ts":..}``.
    """

    symbol: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SYMBOL_LEN)]
    price: Annotated[float, msgspec.Meta(gt=0.0, lt=MAX_PRICE)]
    ts: Annotated[float, msgspec.Meta(ge=0.0, lt=1e11)]
    resent: bool = False


class _Quantity(msgspec.Struct, frozen=True, forbid_unknown_fields=False, gc=False):
    """A tick whose value may be 0 or below: read only for a symbol the reader takes as a
    quantity rather than a price (see :func:`decode`)."""

    symbol: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SYMBOL_LEN)]
    price: Annotated[float, msgspec.Meta(gt=-MAX_PRICE, lt=MAX_PRICE)]
    ts: Annotated[float, msgspec.Meta(ge=0.0, lt=1e11)]
    resent: bool = False


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
    IMPLAUSIBLE_JUMP = "implausible jump"


class BadTick(ValueError):
    """A message that is not a valid tick; the text says why, ``problem`` under which
    heading it is counted."""

    def __init__(self, text: str, problem: Problem) -> None:
        super().__init__(text)
        self.problem = problem


def _invalid(exc: msgspec.ValidationError) -> BadTick:
    """The heading of a field that failed its type or bounds: msgspec names the field."""
    text = str(exc)
    if text.endswith("`$.price`"):
        problem = Problem.BAD_PRICE
    elif text.endswith("`$.symbol`"):
        problem = Problem.BAD_SYMBOL
    elif text.endswith("`$.ts`") and " < " in text:  # e.g. milliseconds sent as seconds
        problem = Problem.FUTURE_TIME
    else:
        problem = Problem.WRONG_SHAPE
    return BadTick(f"invalid tick: {text}", problem)


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
    except msgspec.DecodeError:
        raise bad from None
    if not quantity(got.symbol):
        raise bad
    return Tick(got.symbol, got.price, got.ts, got.resent)


class _Named(msgspec.Struct, forbid_unknown_fields=False, gc=False):
    symbol: str


_named_decoder = msgspec.json.Decoder(_Named)


def _symbol_of(value: bytes) -> str | None:
    """The symbol a message names, if it names one as text."""
    try:
        return _named_decoder.decode(value).symbol
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def encode(tick: Tick) -> bytes:
    """Encode a tick as compact JSON bytes."""
    return _encoder.encode(tick)


#: What :func:`mark_resent` puts before the closing brace of an encoded tick.
_RESENT_FIELD = b',"resent":true}'


def mark_resent(value: bytes) -> bytes:
    """An encoded tick (as :func:`encode` made it) marked as sent again; other values are
    returned unchanged."""
    if value.endswith(b"}") and not value.endswith(_RESENT_FIELD):
        return value[:-1] + _RESENT_FIELD
    return value


def check_value(value: bytes | None) -> bytes:
    """The message value, or BadTick when there is none or it is over
    :data:`MAX_MESSAGE_BYTES`: the checks every decoder makes before parsing."""
    if value is None:
        raise BadTick("empty message (no value)", Problem.WRONG_SHAPE)
    if len(value) > MAX_MESSAGE_BYTES:
        raise BadTick(
            f"message of {len(value)} bytes exceeds {MAX_MESSAGE_BYTES}", Problem.TOO_LARGE
        )
    return value


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
        bad = _invalid(exc)
        if quantity is None or bad.problem is not Problem.BAD_PRICE:
            raise bad from None
        tick = _as_quantity(value, quantity, bad)
    except msgspec.DecodeError as exc:
        raise BadTick(f"not JSON: {exc}", Problem.NOT_JSON) from None
    except Exception as exc:  # UnicodeDecodeError and anything else a hostile payload triggers
        raise BadTick(f"undecodable: {type(exc).__name__}: {exc}", Problem.NOT_JSON) from None
    # JSON has no NaN or infinity, and the field bounds refuse overflowed numbers, so
    # price and ts are finite here.
    symbol = tick.symbol
    if symbol not in _checked_symbols:
        if not symbol.isprintable() or symbol.strip() != symbol:
            raise BadTick("symbol has control characters or surrounding spaces", Problem.BAD_SYMBOL)
        if len(_checked_symbols) < _MAX_CHECKED:
            _checked_symbols.add(symbol)
    return tick
