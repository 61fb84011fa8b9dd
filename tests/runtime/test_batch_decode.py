"""A batch of messages decoded at once (the usual batch: every message a plain, plausible
tick) and one message at a time (any batch) give the same ticks, refusals and state, on
batches mixing good ticks with every kind of bad message, hostile ones included."""

from __future__ import annotations

import math
import time
from typing import Any

import confluent_kafka as ck
import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import EngineConfig
from producer.wire import Tick, decode_batch, encode, mark_resent
from tui.runtime.consumer import ConsumerWorker

NOW = time.time()


class _DeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    def send(self, msg: Any, bad: Any) -> None:
        self.sent.append((msg.offset(), bad.problem.value))


def _worker(batched: bool) -> tuple[ConsumerWorker, _DeadLetters]:
    w = ConsumerWorker("127.0.0.1:1", topic="t", config=EngineConfig(history=0))
    dead = _DeadLetters()
    w._dead_letters = dead  # type: ignore[assignment]
    if not batched:
        w._decode_batch = lambda *_args: None  # type: ignore[method-assign]
    return w, dead


#: Values that stand for an event instead of a message (the client's errors).
ERRORS = {
    b"<eof>": ck.KafkaError(ck.KafkaError._PARTITION_EOF),
    b"<gone>": ck.KafkaError(ck.KafkaError.UNKNOWN_TOPIC_OR_PART),  # a broker that lost it
}


GOOD = st.builds(
    lambda sym, price, dt: encode(Tick(sym, price, NOW - dt)),
    st.sampled_from(["AAA", "BBB", "CCC", "DDD"]),
    st.floats(90.0, 110.0),
    st.floats(0.0, 30.0),
)
BAD = st.sampled_from(
    [
        b"not json",
        b"",
        b'{"symbol":"AAA","price":0,"ts":1700000000}',  # price at 0
        b'{"symbol":"AAA","price":-3,"ts":1700000000}',
        b'{"symbol":"A\\u0007B","price":5,"ts":1700000000}',  # a control character
        b'{"symbol":" AAA","price":5,"ts":1700000000}',
        b'{"symbol":"AAA","price":100,"ts":1700000000}\n{"symbol":"BBB","price":1,"ts":1}',
        b'{"symbol":"AAA","price":100,"ts":1700000000,"x":"',  # half of a pair that
        b'"},{"symbol":"BBB","price":100,"ts":1700000000}',  # joins into two ticks
        b'{"symbol":"AAA","price":100,"ts":1e12}',
        b'{"symbol":"AAA","price":100000,"ts":%d}' % int(NOW),  # an implausible jump
        b'{"symbol":"EEE","price":100,"ts":%d,"resent":true}' % int(NOW),
        b'{"symbol":"FFF","price":100,"ts":%d}' % int(NOW + 3600),  # an hour ahead
        b"[1, 2, 3]",
        b"\xff\xfe",
        b" ",
        b'{"symbol":"AAA","price":100,"ts":1700000000}' + b" " * 5000,  # too large
        b'{"symbol":"GGG","price":100,"ts":%d}\n' % int(NOW),  # a newline of its own
        b'{"symbol":"AAA","price":100,"ts":%d} {"symbol":"HHH","price":100,"ts":%d}'
        % (int(NOW), int(NOW)),  # two ticks side by side: with a blank, as many as values
        b'{"symbol":"AAA","price":100,"ts":%d}{"symbol":"HHH","price":100,"ts":%d}'
        % (int(NOW), int(NOW)),
        b"\r",
        b"\t ",
        # A field named twice (refused), alone or beside a message lacking one, with and
        # without a blank before its colon; a value that reads like a field's name (a
        # tick); a name written with an escape (read as JSON decoders read repeats).
        b'{"symbol":"AAA","price":100,"ts":%d,"symbol":"BBB"}' % int(NOW),
        b'{"symbol":"AAA","price":100,"ts":%d,"symbol" :"BBB"}' % int(NOW),
        b'{"symbol":"AAA","price":100,"ts":%d,"price":101}' % int(NOW),
        b'{"symbol":"CCC","price":100,"ts" :%d}' % int(NOW),
        b'{"symbol":"CCC","price":100}',
        b'{"symbol":"price","price":100,"ts":%d}' % int(NOW),
        b'{"symbol":"AAA","price":100,"ts":%d,"sym\\u0062ol":"BBB"}' % int(NOW),
        *ERRORS,
    ]
)


def _messages(values: list[bytes], partition_of: list[int]) -> list[ck.Message]:
    return [
        ck.Message(topic="t", error=ERRORS[v])
        if v in ERRORS
        else ck.Message(topic="t", partition=p, offset=i, value=v, timestamp=(1, int(NOW * 1000)))
        for i, (v, p) in enumerate(zip(values, partition_of, strict=True))
    ]


def _outcome(w: ConsumerWorker, dead: _DeadLetters, signals: list) -> tuple:
    st_ = w.engine.state()
    return (
        st_.symbols,
        st_.n_ticks.tolist(),
        [x if not math.isnan(x) else None for x in st_.last.tolist()],
        w._consumed,
        sorted((k.value, v) for k, v in w._bad.items()),
        dead.sent,
        dict(w.checks._last),
        [msgspec.json.encode(s) for s in signals],
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(GOOD, GOOD, GOOD, BAD), min_size=1, max_size=40),
        min_size=1,
        max_size=6,
    ),
    st.randoms(use_true_random=False),
)
def test_at_once_and_one_by_one_agree(batches: list[list[bytes]], rnd: Any) -> None:
    runs = []
    for batched in (True, False):
        w, dead = _worker(batched)
        signals: list = []
        w.on_signals = signals.extend
        for values in batches:
            w._ingest(_messages(values, [rnd.randrange(3) for _ in values]))
        runs.append(_outcome(w, dead, signals))
    assert runs[0] == runs[1]


def test_a_batch_of_good_ticks_is_decoded_at_once() -> None:
    values = [encode(Tick(f"S{i % 7}", 100.0 + i % 3, NOW - 10 + i * 0.01)) for i in range(500)]
    assert decode_batch(values) is not None
    w, dead = _worker(True)
    calls = []
    w._decode_each = lambda *a: calls.append(a) or ([], [], [], [])  # type: ignore[method-assign]
    w._ingest(_messages(values, [i % 3 for i in range(500)]))
    assert not calls  # the batch path took it whole
    assert w._consumed == 500 and not dead.sent
    assert w.engine.state().n_ticks.sum() == 500
    np.testing.assert_array_equal(sorted(w.checks._last), [f"S{i}" for i in range(7)])


def test_two_ticks_in_one_message_beside_a_blank_one_are_both_refused() -> None:
    """JSON lines read two values side by side on one line and skip a blank line, so the
    counts alone would match; each message is refused, as one by one."""
    pair = encode(Tick("AAA", 100.0, NOW)) + b" " + encode(Tick("BBB", 100.0, NOW))
    for blank in (b"", b" ", b"\r"):
        assert decode_batch([pair, blank]) is None
        w, dead = _worker(True)
        w._ingest(_messages([pair, blank], [0, 1]))
        assert w._consumed == 0 and w.engine.symbols == ()
        assert [offset for offset, _ in dead.sent] == [0, 1]


def test_a_batch_with_an_error_event_of_the_client_is_read_one_by_one() -> None:
    """The client hands errors over as messages (a topic the broker lost, the end of a
    partition); an error compared with None by == raises, so they are told apart by
    identity, and the ticks around them still count."""
    values = [encode(Tick("AAA", 100.0, NOW - 5 + i)) for i in range(3)]
    for event in ERRORS:
        w, dead = _worker(True)
        w._ingest(_messages([*values, event], [0] * 4))
        w._ingest(_messages([event], [0]))
        assert w._consumed == 3 and not dead.sent


def test_one_bad_message_sends_the_batch_one_by_one_and_only_it_is_refused() -> None:
    values = [encode(Tick("AAA", 100.0, NOW - 5 + i)) for i in range(4)]
    values.insert(2, b'{"symbol":"AAA","price":100,"ts":1700000000}\n{"symbol":"B"}')
    w, dead = _worker(True)
    w._ingest(_messages(values, [0] * 5))
    assert w._consumed == 4
    assert dead.sent == [(2, "not JSON")]


def test_a_tick_and_its_copy_sent_again_in_one_batch_are_read_once() -> None:
    """A producer whose acknowledgements were lost sends its ticks again; the copies may
    come in the same batch as the ticks they copy (the acknowledgement was lost, not the
    tick), and are read as ticks already read, like copies of earlier batches' ticks."""
    ticks = [Tick("AAA", 100.0 + i, NOW - 5 + i) for i in range(4)]
    copies = [Tick(t.symbol, t.price, t.ts, resent=True) for t in ticks[1:3]]
    values = [encode(t) for t in [*ticks, *copies]]
    w, dead = _worker(True)
    w._ingest(_messages(values, [0] * len(values)))
    assert w._consumed == 4 and w._duplicates == 2 and not dead.sent
    assert w.engine.state().n_ticks.tolist() == [4]


def test_ticks_sent_again_that_share_a_time_are_read_once_each_and_none_lost() -> None:
    """A source stamped to the second sends many ticks of a symbol at one time. The
    reader had read two of the second's four when the broker went away; the producer
    sends again the four (and one before them), over two batches: the two read are
    dropped, the two not read are read (every tick at the time was taken as read, and
    lost). New ticks at that time after them are read too."""
    second = math.floor(NOW) - 5
    ticks = [Tick("AAA", 100.0, second - 1)] + [Tick("AAA", 101.0 + i, second) for i in range(4)]
    # And a symbol none of whose second was read: every tick of it sent again is read.
    unread = [Tick("BBB", 50.0 + i, second) for i in range(3)]
    w, dead = _worker(True)
    w._ingest(_messages([encode(t) for t in [*ticks[:3], Tick("BBB", 49.0, second - 1)]], [0] * 4))
    again = [encode(Tick(t.symbol, t.price, t.ts, resent=True)) for t in [*ticks, *unread]]
    w._ingest(_messages(again[:2], [0] * 2))  # the one before and the first read
    w._ingest(_messages([*again[2:], encode(Tick("AAA", 109.0, second))], [0] * 7))
    state = w.engine.state()
    assert w._duplicates == 3 and not dead.sent
    # AAA: three read first, the two not read before, one new; BBB: one, then three.
    assert state.n_ticks.tolist() == [6, 4]
    assert state.last.tolist() == [109.0, 52.0]
    assert w.engine.latest_times()[2].tolist() == [5, 3]


def test_copies_of_each_round_of_sending_again_are_matched_afresh() -> None:
    """Two outages within the producer's resend window: its second round sends again
    the copies of the first (those delivered, with the ticks taken back). Matched as
    one run, the second round's copies of ticks read were read twice; a first round cut
    by the second outage must still have its unread copies read."""
    second = math.floor(NOW) - 5
    ticks = [Tick("AAA", 101.0 + i, second) for i in range(4)]
    w, dead = _worker(True)
    w._ingest(_messages([encode(t) for t in ticks[:2]], [0] * 2))  # two of four read
    first = [mark_resent(encode(t), 5) for t in ticks]
    w._ingest(_messages(first[:2], [0] * 2))  # the two read: dropped
    w._ingest(_messages(first[2:], [0] * 2))  # the two not read: read
    again = [mark_resent(value, 6) for value in first]  # the second round: all four
    w._ingest(_messages(again[:1], [0]))
    w._ingest(_messages(again[1:], [0] * 3))
    assert w.engine.state().n_ticks.tolist() == [4] and not dead.sent
    assert w._duplicates == 2 + 4
    assert w.engine.latest_times()[2].tolist() == [4]


@pytest.mark.parametrize("jump_first", [True, False])
@pytest.mark.parametrize("cut", [(3, 3), (2, 3), (3, 1), (2, 2)])
def test_a_copy_of_a_tick_refused_at_the_latest_time_takes_its_place_among_those_read(
    jump_first: bool, cut: tuple[int, int]
) -> None:
    """Of a symbol's ticks at its latest time, one was refused (a price jump) and one
    read; the producer sends all again. The engine counts one tick read at that time,
    so the refused one's copy was matched to it and the read one's copy read twice.
    ``cut``: where the originals and the copies are split into two batches each."""
    second = math.floor(NOW) - 5
    before = Tick("AAA", 100.0, second - 1)
    jump, good = Tick("AAA", 100_000.0, second), Tick("AAA", 101.0, second)
    sent = (before, jump, good) if jump_first else (before, good, jump)
    w, dead = _worker(True)
    values = [encode(t) for t in sent]
    for part in (values[: cut[0]], values[cut[0] :]):
        if part:
            w._ingest(_messages(part, [0] * len(part)))
    assert [problem for _, problem in dead.sent] == ["implausible jump"]
    assert w.engine.state().n_ticks.tolist() == [2]
    copies = [mark_resent(value, 5) for value in values]
    for part in (copies[: cut[1]], copies[cut[1] :]):
        if part:
            w._ingest(_messages(part, [0] * len(part)))
    assert w.engine.state().n_ticks.tolist() == [2] and w._duplicates == 3
    assert len(dead.sent) == 1
    # A new tick at that time after the copies is read.
    w._ingest(_messages([encode(Tick("AAA", 102.0, second))], [0]))
    assert w.engine.state().n_ticks.tolist() == [3]


def test_a_retry_of_a_tick_that_timed_out_is_read_though_newer_ticks_came_first() -> None:
    """A slow broker timed a request out while later ones of the partition went through:
    the producer sent the ticks once more, marked as sent again, and every reader took
    them, older than ticks it had read, as read already (2,282 of 120,000 never read).
    Marked retries, they are read; a copy of a tick delivered (no retry) is still
    dropped."""
    second = math.floor(NOW) - 5
    lost = Tick("AAA", 100.5, second - 2)  # its request timed out: never written
    read = [Tick("AAA", 101.0 + i, second + i) for i in range(2)]
    w, dead = _worker(True)
    w._ingest(_messages([encode(t) for t in read], [0] * 2))
    retry = mark_resent(encode(lost), 5, retry=True)
    copy = mark_resent(encode(read[0]), 5)  # delivered and read: dropped
    w._ingest(_messages([retry, copy], [0] * 2))
    assert w.engine.state().n_ticks.tolist() == [3] and w._duplicates == 1
    assert not dead.sent


def test_refused_ticks_of_symbols_never_read_keep_nothing() -> None:
    """A flood of new names, each refused (an hour ahead), kept an entry each for ever."""
    w, dead = _worker(True)
    flood = [encode(Tick(f"N{i}", 100.0, NOW + 3600)) for i in range(500)]
    w._ingest(_messages(flood, [0] * len(flood)))
    assert len(dead.sent) == 500 and w._refused_at == {}


def test_a_symbol_whose_clock_a_tick_from_ahead_moved_starts_afresh_on_its_real_ticks() -> None:
    # One tick stamped 290 s ahead: its real ticks came 290 s behind and were refused as
    # old for five minutes. Three in a row set the clock back, and the engine starts the
    # symbol afresh there, its limits kept.
    w, dead = _worker(batched=True)
    now = time.time()  # the real ticks are of now (NOW was taken when the module loaded)
    real = [encode(Tick("ACME", 150.0 + i * 0.01, now - 30 + i)) for i in range(25)]
    w._ingest(_messages(real, [0] * len(real)))
    w.engine.set_limits("ACME", buy=140.0, sell=160.0)
    ahead = [encode(Tick("ACME", 155.0, now + 290))]
    later = [encode(Tick("ACME", 150.3 + i * 0.01, now - 4 + i)) for i in range(5)]
    w._ingest(_messages(ahead + later, [0] * 6))
    state = w.engine.state()
    sid = state.symbols.index("ACME")
    assert [problem for _, problem in dead.sent] == ["old time", "old time"]
    assert int(state.n_ticks[sid]) == 3  # the one that set the clock back, and two after
    assert state.t_last[sid] == now
    assert state.last[sid] == 150.34
    assert (state.buy[sid], state.sell[sid]) == (140.0, 160.0)
    # It reads on as before, a batch at once.
    more = [encode(Tick("ACME", 150.4, now + 1))]
    w._ingest(_messages(more, [0]))
    assert int(w.engine.state().n_ticks[sid]) == 4 and len(dead.sent) == 2
