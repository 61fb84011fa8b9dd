"""The field mapping for ticks of another shape: how it is written, what each kind of
value becomes, and under which heading a bad value is refused."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pytest

from producer.fields import Fields, FieldsError
from producer.wire import BadTick, Problem, Tick, decode, encode


@dataclass
class Msg:
    """What the decoder reads of a consumed message."""

    payload: bytes | None
    msg_key: bytes | None = None
    ts: tuple[int, int] = (1, 1_700_000_000_999)  # (CREATE_TIME, ms)

    def value(self) -> bytes | None:
        return self.payload

    def key(self) -> bytes | None:
        return self.msg_key

    def timestamp(self) -> tuple[int, int]:
        return self.ts


def test_limitwatchs_own_shape_keeps_the_fast_decoder() -> None:
    assert Fields.parse("").own and Fields.parse("symbol=symbol,price=price,ts=ts:s").own
    tick = Tick("ACME", 101.5, 1.7e9)
    assert Fields().decoder()(Msg(encode(tick))) == tick


@pytest.mark.parametrize(
    ("spec", "msg", "expected"),
    [
        (  # a crypto exchange's trade: other names, price as text, milliseconds
            "symbol=s,price=p,ts=T:ms",
            Msg(b'{"e":"trade","s":"BTCUSDT","p":"43000.10","q":"0.1","T":1700000000123}'),
            Tick("BTCUSDT", 43000.10, 1700000000.123),
        ),
        (  # a combined stream: the trade nested under data
            "symbol=data.s,price=data.p,ts=data.T:ms",
            Msg(b'{"stream":"btcusdt@trade","data":{"s":"BTCUSDT","p":43000.5,"T":1700000000123}}'),
            Tick("BTCUSDT", 43000.5, 1700000000.123),
        ),
        (  # symbol in the key, time from the Kafka timestamp
            "symbol=@key,price=bid,ts=@timestamp",
            Msg(b'{"bid":1.0875,"ask":1.0877}', b"EURUSD"),
            Tick("EURUSD", 1.0875, 1700000000.999),
        ),
        (
            "symbol=sym,price=quote.last,ts=time:iso",
            Msg(b'{"sym":"AAPL","quote":{"last":"189.50"},"time":"2023-11-14T22:13:20.5Z"}'),
            Tick("AAPL", 189.5, 1700000000.5),
        ),
        (  # ISO-8601 with an offset, and without a zone (read as UTC)
            "symbol=s,price=p,ts=t:iso",
            Msg(b'{"s":"X","p":2,"t":"2023-11-15T00:13:20+02:00"}'),
            Tick("X", 2.0, 1700000000.0),
        ),
        (
            "symbol=s,price=p,ts=t:iso",
            Msg(b'{"s":"X","p":2,"t":"2023-11-14 22:13:20"}'),
            Tick("X", 2.0, 1700000000.0),
        ),
        ("symbol=s,price=p,ts=t:us", Msg(b'{"s":"X","p":2,"t":1700000000250000}'), None),
        ("symbol=s,price=p,ts=t:ns", Msg(b'{"s":"X","p":2,"t":1700000000250000000}'), None),
        ("symbol=s,price=p,ts=t", Msg(b'{"s":"X","p":"2","t":"1700000000.25"}'), None),
    ],
)
def test_real_world_shapes_become_ticks(spec: str, msg: Msg, expected: Tick | None) -> None:
    tick = Fields.parse(spec).decoder()(msg)
    if expected is None:  # the same instant in another unit
        expected = Tick("X", 2.0, 1700000000.25)
    assert tick.symbol == expected.symbol
    assert tick.price == expected.price
    assert tick.ts == pytest.approx(expected.ts, abs=1e-6)


@pytest.mark.parametrize(
    ("spec", "msg", "problem"),
    [
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":"B","p":"abc","T":1}'), Problem.BAD_PRICE),
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":"B","p":"-1","T":1}'), Problem.BAD_PRICE),
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":"B","p":"nan","T":1}'), Problem.BAD_PRICE),
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":"B","p":"1e999","T":1}'), Problem.BAD_PRICE),
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":7,"p":"1","T":1}'), Problem.BAD_SYMBOL),
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":"B\\u0007","p":"1","T":1}'), Problem.BAD_SYMBOL),
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"p":"1","T":1}'), Problem.WRONG_SHAPE),
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":"B","p":"1","T":"x"}'), Problem.WRONG_SHAPE),
        # seconds read as milliseconds' thousandfold: far in the future
        ("symbol=s,price=p,ts=T", Msg(b'{"s":"B","p":"1","T":1700000000123}'), Problem.FUTURE_TIME),
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":"B","p":"1","T":-5}'), Problem.WRONG_SHAPE),
        # seconds read as milliseconds: January 1970
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":"B","p":"1","T":1700000000}'), Problem.WRONG_SHAPE),
        ("symbol=s,price=p,ts=T:ns", Msg(b'{"s":"B","p":"1","T":1.7e15}'), Problem.WRONG_SHAPE),
        ("symbol=s,price=p,ts=T:ms", Msg(b"not json"), Problem.NOT_JSON),
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":"\xff","p":1,"T":1}'), Problem.NOT_JSON),
        ("symbol=s,price=p,ts=T:ms", Msg(None), Problem.WRONG_SHAPE),
        ("symbol=s,price=p,ts=T:ms", Msg(b" " * 5000), Problem.TOO_LARGE),
        ("symbol=s,price=p,ts=t:iso", Msg(b'{"s":"B","p":1,"t":"yesterday"}'), Problem.WRONG_SHAPE),
        ("symbol=@key,price=p,ts=@timestamp", Msg(b'{"p":1}'), Problem.BAD_SYMBOL),
        ("symbol=@key,price=p,ts=@timestamp", Msg(b'{"p":1}', b"\xff\xfe"), Problem.BAD_SYMBOL),
        ("symbol=@key,price=p,ts=@timestamp", Msg(b'{"p":1}', b"K", (0, -1)), Problem.WRONG_SHAPE),
        ("symbol=d.s,price=d.p,ts=d.T:ms", Msg(b'{"d":[1,2]}'), Problem.WRONG_SHAPE),
    ],
)
def test_bad_values_are_refused_under_their_heading(spec: str, msg: Msg, problem: Problem) -> None:
    with pytest.raises(BadTick) as caught:
        Fields.parse(spec).decoder()(msg)
    assert caught.value.problem is problem, str(caught.value)


@pytest.mark.parametrize(("unit", "value"), [("ms", b"1700000000"), ("us", b"1.7e9")])
def test_seconds_read_as_a_finer_unit_ask_about_the_unit(unit: str, value: bytes) -> None:
    """They land in January 1970 and were taken; a time in milliseconds read as seconds
    lands far ahead and is refused as a future time."""
    msg = Msg(b'{"s":"B","p":"1","T":' + value + b"}")
    with pytest.raises(BadTick, match=f"is the unit {unit} right"):
        Fields.parse(f"symbol=s,price=p,ts=T:{unit}").decoder()(msg)
    ms = Msg(b'{"s":"B","p":"1","T":1700000000123}')  # milliseconds, in the same unit
    assert Fields.parse("symbol=s,price=p,ts=T:ms").decoder()(ms).ts == 1700000000.123


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("symbol=s,price=p,ts=T:minutes", "ts unit"),
        ("sym=s", "expected symbol="),
        ("symbol=s,symbol=t", "given twice"),
        ("price=@key", "price must be a field"),
        ("ts=@key", "only @timestamp"),
        ("symbol=p,price=p", "same field"),
        ("symbol=data,price=data.p", "both a value and the object"),
        ("price=data..p", "field name"),
        ('symbol=a"b', "no quote, backslash or control character"),  # a traceback before
        ("symbol=a\\b", "no quote, backslash or control character"),
        ("price=x\x1b[31m", "no quote, backslash or control character"),
        # 1,000 levels: a RecursionError when the reading began (900 were read)
        pytest.param("symbol=" + "a." * 999 + "z", "at most 32 fields", id="1000-deep"),
        ("symbol=s price=p", "no ':' or '='"),  # a comma left out
        ("price=p:ms", "no ':' or '='"),  # a unit on the price
        ("ts=t:iso:ms", "no ':' or '='"),
    ],
)
def test_a_mapping_that_cannot_work_is_refused_with_a_reason(spec: str, says: str) -> None:
    with pytest.raises(FieldsError, match=says):
        Fields.parse(spec)


def test_a_path_32_fields_deep_is_read() -> None:
    path = ".".join(f"k{i}" for i in range(32))
    msg = (
        b'{"s":"A","T":1700000000123,'
        + b"".join(b'"k%d":{' % i for i in range(31))
        + b'"k31":2.5'
        + b"}" * 31
        + b"}"
    )
    tick = Fields.parse(f"symbol=s,price={path},ts=T:ms").decoder()(Msg(msg))
    assert (tick.symbol, tick.price) == ("A", 2.5)


def test_a_mapping_reads_back_from_its_own_text() -> None:
    for spec in ("symbol=s,price=p,ts=T:ms", "symbol=@key,price=data.p,ts=@timestamp"):
        assert Fields.parse(Fields.parse(spec).spec()) == Fields.parse(spec)


def test_a_quantity_may_be_zero_or_below_in_a_mapped_shape_and_a_price_may_not() -> None:
    def quantity(symbol: str) -> bool:
        return symbol.startswith("temp.")

    read = Fields.parse("symbol=s,price=p,ts=T:ms").decoder(quantity)
    tick = read(Msg(b'{"s":"temp.out","p":"-3.5","T":1700000000123}'))
    assert (tick.symbol, tick.price) == ("temp.out", -3.5)
    by_key = Fields.parse("symbol=@key,price=v,ts=@timestamp").decoder(quantity)
    assert by_key(Msg(b'{"v":0}', b"temp.in")).price == 0.0
    for shape, msg in (
        (read, Msg(b'{"s":"ACME","p":"-3.5","T":1700000000123}')),  # a price
        (by_key, Msg(b'{"v":-1}', b"ACME")),
        (Fields.parse("symbol=s,price=p,ts=T:ms").decoder(), Msg(b'{"s":"temp.out","p":-1,"T":1}')),
    ):
        with pytest.raises(BadTick) as info:
            shape(msg)
        assert info.value.problem is Problem.BAD_PRICE


T = b'"T":1700000000123'  # a time in ms, for the shapes below


@pytest.mark.parametrize(
    ("spec", "msg", "field"),
    [
        # msgspec keeps the last: this was a tick at 2.0, the 1.5 dropped without a word
        ("symbol=@key,price=bid,ts=@timestamp", Msg(b'{"bid":"1.5" ,"bid":2}', b"K"), "bid"),
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":"ACME","p":1,' + T + b',"s":"BRIX"}'), "s"),
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":"A","p":1,' + T + b',"T":1700000000999}'), "T"),
        # a repeat spelled with an escape is a repeat, as on the wire
        ("symbol=@key,price=bid,ts=@timestamp", Msg(b'{"bid":1.5,"b\\u0069d":2}', b"K"), "bid"),
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"\\u0073":"A","p":1,' + T + b',"s":"B"}'), "s"),
        # nested: twice inside the object, or the object itself twice
        ("symbol=d.s,price=d.p,ts=d.T:ms", Msg(b'{"d":{"s":"A","p":1,"p":2,' + T + b"}}"), "d.p"),
        (
            "symbol=d.s,price=d.p,ts=d.T:ms",
            Msg(b'{"d":{"s":"A","p":1,' + T + b'},"d":{"s":"B","p":2,' + T + b"}}"),
            "d",
        ),
        (
            "symbol=s,price=q.bid,ts=T:ms",
            Msg(b'{"s":"A","q":{"bid":1,"bid":2},' + T + b"}"),
            "q.bid",
        ),
        # the first of the two refused (a price below 0, a symbol that is a number)
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":"A","p":-5,"p":100,' + T + b"}"), "p"),
        ("symbol=s,price=p,ts=T:ms", Msg(b'{"s":7,"s":"A","p":1,' + T + b"}"), "s"),
    ],
)
def test_a_mapped_field_given_twice_is_refused_as_the_wire_format_refuses_it(
    spec: str, msg: Msg, field: str
) -> None:
    with pytest.raises(BadTick) as caught:
        Fields.parse(spec).decoder()(msg)
    assert str(caught.value) == f"the field {field} is given twice"
    assert caught.value.problem is Problem.WRONG_SHAPE
    # the same words and heading as limitwatch's own shape
    with pytest.raises(BadTick) as own:
        decode(b'{"symbol":"A","price":1,"ts":1,"symbol":"B"}')
    assert (str(own.value), own.value.problem) == (
        "the field symbol is given twice",
        Problem.WRONG_SHAPE,
    )


def test_a_quantity_given_twice_is_refused_too() -> None:
    read = Fields.parse("symbol=s,price=p,ts=T:ms").decoder(lambda symbol: symbol == "temp")
    with pytest.raises(BadTick, match="the field p is given twice"):
        read(Msg(b'{"s":"temp","p":-1,' + T + b',"p":-2}'))
    assert read(Msg(b'{"s":"temp","p":-1,' + T + b"}")).price == -1.0


@pytest.mark.parametrize(
    ("spec", "msg"),
    [
        # a value that reads as a mapped name, a name once with an escape, a field not
        # mapped given twice, and a mapped name twice in an object not on its path
        ("symbol=@key,price=bid,ts=@timestamp", Msg(b'{"bid":2,"x":"bid"}', b"K")),
        ("symbol=@key,price=bid,ts=@timestamp", Msg(b'{"b\\u0069d":2,"x":"\\/"}', b"K")),
        ("symbol=@key,price=bid,ts=@timestamp", Msg(b'{"bid":2,"ask":3,"ask":4}', b"K")),
        ("symbol=@key,price=bid,ts=@timestamp", Msg(b'{"bid":2,"x":{"bid":1,"bid":3}}', b"K")),
        (
            "symbol=d.s,price=d.p,ts=d.T:ms",
            Msg(b'{"d":{"s":"K","p":2,' + T + b'},"e":{"p":3,"p":4}}'),
        ),
        (
            "symbol=d.s,price=d.p,ts=d.T:ms",
            Msg(b'{"s":"x","s":"y","d":{"s":"K","p":2,' + T + b"}}"),
        ),
        ("symbol=d.s,price=d.p,ts=d.T:ms", Msg(b'{"d":{"s":"K","p":2,' + T + b',"d":1,"d":2}}')),
    ],
)
def test_a_mapped_name_that_shows_twice_but_is_given_once_is_a_tick(spec: str, msg: Msg) -> None:
    tick = Fields.parse(spec).decoder()(msg)
    assert (tick.symbol, tick.price) == ("K", 2.0)


def test_a_message_nested_deeper_than_json_reads_is_refused_not_raised() -> None:
    """msgspec reads arrays a few levels deeper than the json module that looks for a
    name given twice: every depth gives a tick or a BadTick, never a RecursionError."""
    read = Fields.parse("symbol=@key,price=bid,ts=@timestamp").decoder()
    for depth in range(400, 1100, 7):
        value = b'{"bid":1,"z":"bid","x":%s%s}' % (b"[" * depth, b"]" * depth)
        with contextlib.suppress(BadTick):
            read(Msg(value, b"K"))


def test_json_nested_too_deeply_is_a_wrong_shape_through_a_field_mapping() -> None:
    deep = b'{"sym":"A","px":1,"t":1700000000,"x":' + b"[" * 1900 + b"]" * 1900 + b"}"
    decoder = Fields.parse("symbol=sym,price=px,ts=t:s").decoder()
    with pytest.raises(BadTick) as caught:
        decoder(Msg(deep))
    assert caught.value.problem is Problem.WRONG_SHAPE and "nested too deeply" in str(caught.value)


def test_a_bad_price_beside_deep_json_is_refused_for_a_quantity_too() -> None:
    deep = b'{"sym":"A","px":-1,"t":1700000000,"x":' + b"[" * 1500 + b"]" * 1500 + b"}"
    decoder = Fields.parse("symbol=sym,price=px,ts=t:s").decoder(quantity=lambda _s: True)
    with pytest.raises(BadTick):
        decoder(Msg(deep))


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        # text, allowed, that is no decimal number: not "Expected `float`, got `str`"
        (b'{"s":"B","d":{"p":"1,0875"},"T":1}', "price at `$.d.p` is text that is not a decimal"),
        (b'{"s":"B","d":{"p":"  1.09  "},"T":1}', "price at `$.d.p` is text that is not a decimal"),
        (b'{"s":"B","d":{"p":"0x10"},"T":1}', "price at `$.d.p` is text that is not a decimal"),
        (b'{"s":"B","d":{"p":"Infinity"},"T":1}', "price at `$.d.p` is out of range: a finite"),
        (b'{"s":"B","d":{"p":-3},"T":1}', "price at `$.d.p` is out of range: a finite"),
        (b'{"s":"B","d":{"p":"1.5"},"T":"2024-01-01"}', "an ISO-8601 time is read with ts=T:iso"),
    ],
)
def test_a_refused_mapped_price_or_time_says_what_is_wrong_with_it(
    payload: bytes, says: str
) -> None:
    with pytest.raises(BadTick) as caught:
        Fields.parse("symbol=s,price=d.p,ts=T:ms").decoder()(Msg(payload))
    assert says in str(caught.value), str(caught.value)
