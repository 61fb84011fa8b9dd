"""Reading ticks from a topic in someone else's shape: which field holds the symbol, the
price and the time, in what unit, or whether the message's key or timestamp stands in.

``symbol=s,price=p,ts=T:ms`` reads a crypto exchange's trade (``{"s":"BTCUSDT",
"p":"43000.10","T":1700000000123}``); names may be nested (``data.price``), a price may
be a number or a decimal string, a time is a number in s, ms, us or ns or an ISO-8601
text, and ``@key`` / ``@timestamp`` take the symbol from the message key and the time
from the Kafka message timestamp. limitwatch's own shape keeps its fast decoder
(:func:`producer.wire.decode`); any other shape gets a msgspec decoder made for it once.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from engine.limits import MAX_PRICE, MIN_PRICE
from producer.wire import (
    MAX_SYMBOL_LEN,
    NESTED,
    BadTick,
    Problem,
    Tick,
    check_value,
    decode,
    symbol_problem,
    twice_in,
)

#: The message's own key and timestamp, where a payload has no symbol or no time.
KEY = "@key"
TIMESTAMP = "@timestamp"
#: Units of a numeric time, as units per second; ``iso`` reads an ISO-8601 text.
UNITS: dict[str, float] = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
ISO = "iso"
#: The most fields a path may name (``data.quote.price`` names three).
MAX_FIELD_DEPTH = 32
#: The largest event time accepted, in epoch seconds (as for limitwatch's own ticks).
MAX_TS = 1e11
#: The earliest event time a time in ms, us or ns may give, in epoch seconds (March
#: 1973): seconds read as milliseconds land in January 1970, and were taken.
MIN_SUBSECOND_TS = 1e8
#: A Kafka message timestamp type meaning there is none.
_NO_TIMESTAMP = 0

_Symbol = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SYMBOL_LEN)]
_Price = Annotated[float, msgspec.Meta(ge=MIN_PRICE, lt=MAX_PRICE)]
#: A quantity's value (an additive symbol's): 0 or below too.
_Value = Annotated[float, msgspec.Meta(gt=-MAX_PRICE, lt=MAX_PRICE)]


class FieldsError(ValueError):
    """A mapping that cannot be read; the text says what is wrong with it."""


@dataclass(frozen=True)
class Fields:
    """Where a tick's symbol, price and event time are in a message.

    ``symbol`` and ``price`` are dotted paths into the JSON payload (``symbol`` may be
    :data:`KEY`); ``ts`` is a path or :data:`TIMESTAMP`, read in ``unit``.
    """

    symbol: str = "symbol"
    price: str = "price"
    ts: str = "ts"
    unit: str = "s"

    @classmethod
    def parse(cls, text: str) -> Fields:
        """A mapping from ``symbol=PATH|@key,price=PATH,ts=PATH[:UNIT]|@timestamp``; roles
        left out keep limitwatch's own names.

        >>> Fields.parse("symbol=s,price=p,ts=T:ms")
        Fields(symbol='s', price='p', ts='T', unit='ms')
        >>> Fields.parse("symbol=@key, price=data.price, ts=@timestamp").spec()
        'symbol=@key,price=data.price,ts=@timestamp'
        """
        given: dict[str, str] = {}
        for part in text.split(","):
            if not part.strip():
                continue
            role, sep, path = (x.strip() for x in part.partition("="))
            if not sep or role not in ("symbol", "price", "ts"):
                raise FieldsError(
                    f"{part.strip()!r}: expected symbol=…, price=… or ts=… "
                    "(e.g. symbol=s,price=p,ts=T:ms)"
                )
            if role in given:
                raise FieldsError(f"{role} is given twice")
            given[role] = path
        unit = "s"
        ts = given.get("ts", "ts")
        if ts != TIMESTAMP and ":" in ts:
            ts, unit = (x.strip() for x in ts.rsplit(":", 1))
            if unit not in UNITS and unit != ISO:
                raise FieldsError(f"ts unit {unit!r}: use one of {', '.join([*UNITS, ISO])}")
        fields = cls(given.get("symbol", "symbol"), given.get("price", "price"), ts, unit)
        fields._check()
        return fields

    def _check(self) -> None:
        paths = {"symbol": self.symbol, "price": self.price, "ts": self.ts}
        for role, path in paths.items():
            if path.startswith("@"):
                allowed = {"symbol": KEY, "ts": TIMESTAMP}.get(role)
                if path != allowed:
                    hint = (
                        f"can be only {allowed} of the @ names"
                        if allowed
                        else "must be a field of the payload (no @ name)"
                    )
                    raise FieldsError(f"{role}={path}: {role} {hint}")
            elif not path or any(not name for name in path.split(".")):
                raise FieldsError(f"{role}={path!r}: expected a field name such as p or data.p")
            elif path.count(".") >= MAX_FIELD_DEPTH:
                # The decoder is built one level of objects at a time: 1,000 of them went
                # past Python's recursion limit (a traceback when the reading began).
                raise FieldsError(
                    f"{role}={path[:24]}…: a path of at most {MAX_FIELD_DEPTH} fields "
                    f"(this one has {path.count('.') + 1:,})"
                )
            elif any(c in ":=" for c in path):
                # A slip in the mapping, read as one odd name that no message has:
                # symbol=s price=p (no comma), price=p:ms (a unit on the price).
                raise FieldsError(
                    f"{role}={path!r}: a field name limitwatch reads has no ':' or '=' "
                    "(roles are separated by commas, and only ts takes a unit: "
                    "symbol=s,price=p,ts=T:ms)"
                )
            elif any(c in '"\\' or not c.isprintable() for c in path):
                # The decoder cannot name such a field (its builder raised a traceback).
                raise FieldsError(
                    f"{role}={path!r}: a field name limitwatch reads has no quote, "
                    "backslash or control character"
                )
        payload = [p for p in paths.values() if not p.startswith("@")]
        if len(set(payload)) != len(payload):
            raise FieldsError("two roles read the same field")
        for a in payload:
            for b in payload:
                if a != b and b.startswith(a + "."):
                    raise FieldsError(f"{a} cannot be both a value and the object holding {b}")

    def spec(self) -> str:
        """The mapping as :meth:`parse` reads it."""
        ts = self.ts if self.ts == TIMESTAMP or self.unit == "s" else f"{self.ts}:{self.unit}"
        return f"symbol={self.symbol},price={self.price},ts={ts}"

    @property
    def own(self) -> bool:
        """Whether this is limitwatch's own shape (the fast decoder reads it)."""
        return self == Fields()

    def decoder(self, quantity: Callable[[str], bool] | None = None) -> Callable[[Any], Tick]:
        """A function from a consumed message (``value()``, ``key()``, ``timestamp()``) to
        a Tick; BadTick, with the heading it is counted under, for anything else. A symbol
        ``quantity`` takes (an additive one) may have a value of 0 or below."""
        if self.own:
            return lambda msg: decode(msg.value(), quantity)
        return _MappedDecoder(self, quantity)


def _tree(leaves: dict[str, Any]) -> dict[str, Any]:
    """Dotted paths to a nested dict of JSON names, leaves holding their types."""
    root: dict[str, Any] = {}
    for path, kind in leaves.items():
        node = root
        *parents, last = path.split(".")
        for name in parents:
            node = node.setdefault(name, {})
        node[last] = kind
    return root


class _MappedDecoder:
    """Decodes one shape of message into Ticks; made once per mapping."""

    def __init__(self, fields: Fields, quantity: Callable[[str], bool] | None = None) -> None:
        self.fields = fields
        self._attr: dict[str, str] = {}
        self._decoder = self._compile(_Price)
        # A second shape whose value may be 0 or below, tried only for a refused price.
        self._quantity = quantity
        self._any_value = self._compile(_Value) if quantity is not None else None
        self._price = operator.attrgetter(self._attr[fields.price])
        self._symbol = (
            operator.attrgetter(self._attr[fields.symbol]) if fields.symbol != KEY else None
        )
        self._ts = operator.attrgetter(self._attr[fields.ts]) if fields.ts != TIMESTAMP else None
        self._per_s = UNITS.get(fields.unit, 1.0)
        self._problem = {
            f"`$.{fields.price}`": Problem.BAD_PRICE,
            f"`$.{fields.symbol}`": Problem.BAD_SYMBOL,
        }
        self._checked: set[str] = set()
        # The payload's paths (symbol, price, time: the order a repeat is named in), and
        # every name on them as a message writes it without an escape, to be counted.
        self._paths = [
            p.split(".") for p in (fields.symbol, fields.price, fields.ts) if not p.startswith("@")
        ]
        self._names = tuple({b'"%s"' % name.encode() for p in self._paths for name in p})

    def _compile(self, price: Any) -> msgspec.json.Decoder[Any]:
        """The decoder of this shape with ``price`` as the price's type."""
        fields = self.fields
        leaves: dict[str, Any] = {}
        if fields.symbol != KEY:
            leaves[fields.symbol] = _Symbol
        leaves[fields.price] = price
        if fields.ts != TIMESTAMP:
            leaves[fields.ts] = str if fields.unit == ISO else float
        kind = self._build(_tree(leaves), "MappedTick", "", "")
        # strict=False: a price or a time written as a decimal string is read as a number
        return msgspec.json.Decoder(kind, strict=False)

    def _build(self, node: dict[str, Any], name: str, path: str, chain: str) -> Any:
        """A msgspec Struct type for `node`, its JSON names renamed to f0, f1, …; each
        leaf's attribute chain (``f0.f1``) is kept in ``_attr`` under its JSON path."""
        fields: list[tuple[str, Any]] = []
        rename: dict[str, str] = {}
        for i, (json_name, child) in enumerate(node.items()):
            attr = f"f{i}"
            here = f"{path}.{json_name}" if path else json_name
            reach = f"{chain}.{attr}" if chain else attr
            if isinstance(child, dict):
                kind = self._build(child, f"{name}_{i}", here, reach)
            else:
                kind = child
                self._attr[here] = reach
            fields.append((attr, kind))
            rename[attr] = json_name
        return msgspec.defstruct(name, fields, rename=rename, gc=False)

    def _as_quantity(self, value: bytes, msg: Any, bad: BadTick) -> Any:
        """The message decoded with a value that may be 0 or below, if its symbol is a
        quantity; else ``bad`` raised (the rare path: a price the strict shape refused)."""
        assert self._any_value is not None and self._quantity is not None
        try:
            obj = self._any_value.decode(value)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            raise bad from None
        symbol = self._symbol(obj) if self._symbol is not None else self._key_symbol(msg)
        if not self._quantity(symbol):
            raise bad
        return obj

    def __call__(self, msg: Any) -> Tick:
        value = check_value(msg.value())
        try:
            obj = self._decoder.decode(value)
        except msgspec.ValidationError as exc:
            twice = twice_in(value, self._paths, self._names)  # the refused one of two?
            if twice:
                raise BadTick(f"the field {twice} is given twice", Problem.WRONG_SHAPE) from None
            text = str(exc)
            problem = next(
                (p for end, p in self._problem.items() if text.endswith(end)), Problem.WRONG_SHAPE
            )
            bad = BadTick(f"invalid tick: {self._reworded(text)}", problem)
            if problem is not Problem.BAD_PRICE or self._any_value is None:
                raise bad from None
            obj = self._as_quantity(value, msg, bad)
        except msgspec.DecodeError as exc:
            raise BadTick(f"not JSON: {exc}", Problem.NOT_JSON) from None
        except RecursionError:  # JSON nested thousands deep: valid, but no tick
            raise BadTick(NESTED, Problem.WRONG_SHAPE) from None
        except Exception as exc:  # UnicodeDecodeError and anything else a payload triggers
            raise BadTick(f"undecodable: {type(exc).__name__}: {exc}", Problem.NOT_JSON) from None
        symbol = self._symbol(obj) if self._symbol is not None else self._key_symbol(msg)
        if symbol not in self._checked:
            problem = symbol_problem(symbol)
            if problem is not None:
                raise BadTick(f"symbol {problem}", Problem.BAD_SYMBOL)
            if len(self._checked) < 100_000:
                self._checked.add(symbol)
        twice = twice_in(value, self._paths, self._names)  # msgspec kept the last
        if twice:
            raise BadTick(f"the field {twice} is given twice", Problem.WRONG_SHAPE)
        return Tick(symbol, self._price(obj), self._time(obj, msg))

    def _reworded(self, text: str) -> str:
        """msgspec's words for a price or time it refused, said as what is wrong with it:
        ``Expected `float`, got `str``` read as if text were not allowed, where the text
        was no decimal number (``"1,0875"``), and ``Expected `float` < 1e12`` was said of
        ``"Infinity"``."""
        at = text.rpartition(" - at ")[2]
        price = at == f"`$.{self.fields.price}`"
        time = self.fields.ts != TIMESTAMP and at == f"`$.{self.fields.ts}`"
        if not (price or time) or not text.startswith("Expected `float`"):
            return text
        what = "price" if price else "time"
        if "got `str`" in text:
            how = (
                "a number, or text of one such as 1234.5 (no digit separators, spaces, "
                "hex or underscores)"
            )
            if time:
                how += f"; an ISO-8601 time is read with ts={self.fields.ts}:iso"
            return f"{what} at {at} is text that is not a decimal number: give {how}"
        if price and ("<" in text or ">" in text):
            return (
                f"price at {at} is out of range: a finite number from {MIN_PRICE:g} to "
                f"below {MAX_PRICE:g} ({text})"
            )
        return text

    def _key_symbol(self, msg: Any) -> str:
        key = msg.key()
        if not key:
            raise BadTick("no message key to read the symbol from", Problem.BAD_SYMBOL)
        try:
            symbol = key.decode("utf-8") if isinstance(key, bytes) else str(key)
        except UnicodeDecodeError:
            raise BadTick("message key is not UTF-8 text", Problem.BAD_SYMBOL) from None
        if len(symbol) > MAX_SYMBOL_LEN:
            raise BadTick(f"key longer than {MAX_SYMBOL_LEN} characters", Problem.BAD_SYMBOL)
        return symbol

    def _time(self, obj: Any, msg: Any) -> float:
        if self._ts is None:
            kind, ms = msg.timestamp()
            if kind == _NO_TIMESTAMP or ms < 0:
                raise BadTick("the message has no Kafka timestamp", Problem.WRONG_SHAPE)
            ts = ms / 1000.0
        elif self.fields.unit == ISO:
            text = self._ts(obj)
            try:
                when = datetime.fromisoformat(text)
            except ValueError:
                raise BadTick(
                    f"invalid tick: {self.fields.ts} is not an ISO-8601 time", Problem.WRONG_SHAPE
                ) from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)  # a time without a zone is read as UTC
            ts = when.timestamp()
        else:
            ts = self._ts(obj) / self._per_s
        least = MIN_SUBSECOND_TS if self._per_s > 1.0 else 0.0
        if not (least <= ts < MAX_TS) or math.isnan(ts):
            problem = Problem.FUTURE_TIME if ts >= MAX_TS else Problem.WRONG_SHAPE
            raise BadTick(
                f"invalid tick: {self.fields.ts} gives {ts:g} s since 1970 "
                f"(is the unit {self.fields.unit} right?)",
                problem,
            )
        return ts
