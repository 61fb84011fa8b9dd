"""The wire format: valid ticks round-trip, hostile or malformed messages become BadTick."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from producer import wire
from producer.wire import MAX_MESSAGE_BYTES, BadTick, Tick, decode, decode_batch, encode


def test_tick_round_trips_as_readable_json() -> None:
    tick = Tick("ACME", 101.25, 1_700_000_000.5)
    raw = encode(tick)
    assert raw == b'{"symbol":"ACME","price":101.25,"ts":1700000000.5}'
    assert decode(raw) == tick


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (None, "empty"),
        (b"", "empty message"),  # as a tombstone is, not "not JSON: truncated"
        (b"\xff\xfe\x00", "not JSON|undecodable"),
        (b"[1,2,3]", "invalid tick"),
        (b'{"symbol":"A","price":-1,"ts":1}', "invalid tick"),
        (b'{"symbol":"A","price":0,"ts":1}', "invalid tick"),
        (b'{"symbol":"A","price":1e999,"ts":1}', "invalid tick"),
        (b'{"symbol":"A","price":"12","ts":1}', "invalid tick"),
        (b'{"symbol":"","price":1,"ts":1}', "invalid tick"),
        (b'{"symbol":"' + b"X" * 200 + b'","price":1,"ts":1}', "invalid tick"),
        (b'{"symbol":"A\\u001b[2J","price":1,"ts":1}', "control"),
        (b'{"symbol":" A","price":1,"ts":1}', "spaces"),
        (b'{"price":1,"ts":1}', "invalid tick"),
        (b'{"s":"A","p":1,"T":1}', r"ticks of another shape are read with --fields\)$"),
        (b'{"symbol":"A","price":1,"ts":-5}', "invalid tick"),
        (b"{" * 5000, "exceeds"),
    ],
)
def test_bad_messages_raise_bad_tick_with_a_reason(payload: bytes | None, reason: str) -> None:
    with pytest.raises(BadTick, match=reason):
        decode(payload)


def test_oversize_message_is_refused_before_decoding() -> None:
    big = b'{"symbol":"A","price":1,"ts":1,"pad":"' + b"x" * MAX_MESSAGE_BYTES + b'"}'
    with pytest.raises(BadTick, match="exceeds"):
        decode(big)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_bad_tick(payload: bytes) -> None:
    with contextlib.suppress(BadTick):
        decode(payload)


def test_a_tick_marked_as_sent_again_says_so_and_an_ordinary_one_is_unchanged() -> None:
    from producer.wire import mark_resent

    plain = encode(Tick("ACME", 101.5, 1_700_000_000.25))
    assert plain == b'{"symbol":"ACME","price":101.5,"ts":1700000000.25}'
    again = mark_resent(plain)
    assert decode(again) == Tick("ACME", 101.5, 1_700_000_000.25, resent=True)
    assert mark_resent(again) == again
    assert not decode(plain).resent


def test_a_quantity_may_be_zero_or_below_on_the_wire_and_a_price_may_not() -> None:
    def quantity(symbol: str) -> bool:
        return symbol.startswith("temp.")

    assert wire.decode(b'{"symbol":"temp.out","price":-3.5,"ts":1}', quantity).price == -3.5
    assert wire.decode(b'{"symbol":"temp.out","price":0,"ts":1,"resent":true}', quantity) == (
        wire.Tick("temp.out", 0.0, 1.0, resent=True)
    )
    for value in (
        b'{"symbol":"ACME","price":-3.5,"ts":1}',  # a price
        b'{"symbol":"temp.out","price":-1e13,"ts":1}',  # beyond any value
        b'{"symbol":"ACME","price":1e-320,"ts":1}',  # a number that underflows
    ):
        with pytest.raises(wire.BadTick) as info:
            wire.decode(value, quantity)
        assert info.value.problem is wire.Problem.BAD_PRICE
    with pytest.raises(wire.BadTick):
        wire.decode(b'{"symbol":"temp.out","price":-3.5,"ts":1}')  # no quantities named
    assert wire.decode(b'{"symbol":"ACME","price":1e-12,"ts":1}').price == 1e-12
    assert wire.decode(b'{"symbol":"temp.out","price":1e-320,"ts":1}', quantity).price == 1e-320


def test_a_field_given_twice_is_refused_and_a_value_that_names_a_field_is_not() -> None:
    twice = b'{"symbol":"ACME","price":150,"ts":1700000000,"symbol":"BRIX"}'
    with pytest.raises(BadTick, match="the field symbol is given twice"):
        decode(twice)
    assert decode_batch([twice]) is None  # the batch is then read one by one, which says why
    # A symbol called "price", and a field twice inside another field's object: ticks.
    # The first of two refused: the repeat said, not the value (it read "bad price").
    for first in (b'"price":-5,"price":100', b'"price":"x","price":100'):
        with pytest.raises(BadTick) as caught:
            decode(b'{"symbol":"D1",' + first + b',"ts":1700000000}')
        assert (str(caught.value), caught.value.problem) == (
            "the field price is given twice", wire.Problem.WRONG_SHAPE
        )  # fmt: skip
    named = b'{"symbol":"price","price":150,"ts":1700000000}'
    nested = b'{"symbol":"ts","price":1,"ts":1700000000,"x":{"price":1,"price":2}}'
    assert decode(named) == Tick("price", 150.0, 1700000000.0)
    assert decode(nested) == Tick("ts", 1.0, 1700000000.0)


def test_a_repeat_hidden_by_a_blank_or_by_another_message_still_sends_the_batch_one_by_one() -> (
    None
):
    twice = b'{"symbol":"ACME","price":150,"ts":1700000000,"symbol":"BRIX"}'
    spaced = b'{"symbol":"ACME","price":150,"ts":1700000000,"symbol" :"BRIX"}'
    short = b'{"symbol":"CCC","price":1,"ts" :1700000000}'  # one '":' fewer
    assert decode_batch([twice, short]) is None
    assert decode_batch([spaced]) is None
    # A name written with an escape hides from the count: a batch with any escape is
    # read one by one, where the repeat counts as decode() counts it.
    escaped = b'{"symbol":"CCC","pr\\u0069ce":1,"ts":1700000000}'
    price_twice = b'{"symbol":"ACME","price":150,"price":1,"ts":1700000000}'
    assert decode_batch([escaped, price_twice]) is None
    assert decode(escaped) == Tick("CCC", 1.0, 1700000000.0)
    # A repeat spelled with an escape is a repeat.
    with pytest.raises(BadTick, match="the field symbol is given twice"):
        decode(b'{"symbol":"ACME","price":150,"ts":1700000000,"sym\\u0062ol":"BRIX"}')
    with pytest.raises(BadTick, match="the field price is given twice"):
        decode(b'{"symbol":"ACME","price":155,"ts":1700000000,"pric\\u0065":100}')


def test_a_message_nested_deeper_than_json_reads_is_refused_not_raised() -> None:
    """msgspec reads arrays a few levels deeper than the json module: a message with a
    name repeated and such nesting raised RecursionError out of decode (and ended the
    consumer's thread). Every depth gives a tick or a BadTick."""
    for depth in range(400, 1100):
        value = b'{"symbol":"AAA","price":100,"ts":1700000000,"z":"price","x":%s%s}' % (
            b"[" * depth,
            b"]" * depth,
        )
        with contextlib.suppress(BadTick):
            decode(value)


@pytest.mark.parametrize("symbol", ["\u2800\u2800", "\u1160\u1160", "\u3164", "\u2800 \u0301"])
def test_a_symbol_that_draws_nothing_is_refused(symbol: str) -> None:
    # Printable to Python, blank on screen: a row with no name in the watchlist.
    value = msgspec.json.encode({"symbol": symbol, "price": 1.0, "ts": 1.0e9})
    with pytest.raises(BadTick, match="symbol draws nothing: its characters are all blank"):
        decode(value)
    assert decode(msgspec.json.encode({"symbol": "日本株", "price": 1.0, "ts": 1.0e9}))


def test_json_nested_too_deeply_is_a_wrong_shape_not_undecodable() -> None:
    """1,900 levels of arrays in a key a tick does not have: valid JSON, refused as
    "undecodable: RecursionError: maximum recursion depth exceeded" under "not JSON"."""
    deep = b'{"symbol":"A","price":1,"ts":1700000000,"x":' + b"[" * 1900 + b"]" * 1900 + b"}"
    with pytest.raises(BadTick) as caught:
        decode(deep)
    assert str(caught.value) == wire.NESTED
    assert caught.value.problem is wire.Problem.WRONG_SHAPE


@pytest.mark.parametrize("quantity", [True, False])
def test_a_bad_price_beside_deep_json_is_refused_for_a_quantity_too(quantity: bool) -> None:
    """With --additive, a price the strict decoder refuses is read again as a quantity's:
    there deep JSON after it raised RecursionError, past every refusal, out of the
    consumer's decoding."""
    deep = b'{"symbol":"A","price":-1,"ts":1700000000,"x":' + b"[" * 1500 + b"]" * 1500 + b"}"
    with pytest.raises(BadTick):
        decode(deep, quantity=lambda _symbol: quantity)
