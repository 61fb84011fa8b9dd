"""Streams: each has a calibrator of its own, so engines that split the streams between
them report exactly what one engine reading them all reports, however the streams
interleave (as Kafka partitions do, by timing)."""

from __future__ import annotations

import numpy as np
import pytest
from streams import random_walk

from engine import Engine, EngineConfig

#: Fields of a symbol's state compared between engines.
FIELDS = ("n_ticks", "sma_slow", "ema", "drift", "vol", "p_buy", "p_sell", "eta_buy", "eta_sell")


def _stream(seed: int, names: list[str], lag_s: float) -> list[tuple[str, float, float]]:
    """Forty minutes of irregular ticks of ``names``, ``lag_s`` behind the wall."""
    ids, t, price = random_walk(12_000, len(names), seed=seed, step_s=0.2, vol=0.002)
    return [(names[i], float(ts) - lag_s, float(p)) for i, ts, p in zip(ids, t, price, strict=True)]


def _merged(a: list, b: list, seed: int) -> tuple[list, list[int]]:
    """``a`` and ``b`` interleaved at random, each in its own order (as a consumer reads
    two partitions), and which stream each tick came from."""
    rng = np.random.default_rng(seed)
    from_b = rng.permutation(np.r_[np.zeros(len(a), bool), np.ones(len(b), bool)])
    ia, ib, out = iter(a), iter(b), []
    for is_b in from_b.tolist():
        out.append(next(ib) if is_b else next(ia))
    return out, from_b.astype(int).tolist()


def _run(
    ticks: list, streams: list[int], cuts: int, seed: int = 0
) -> tuple[Engine, dict[str, list[tuple]]]:
    """An engine fed ``ticks``, each symbol registered in its tick's stream, in ``cuts``
    updates of random sizes; the signals of each symbol."""
    eng = Engine(EngineConfig())
    bounds = np.sort(np.random.default_rng(seed).choice(len(ticks), cuts, replace=False))
    said: dict[str, list[tuple]] = {}
    for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), len(ticks)], strict=True):
        part = ticks[lo:hi]
        if not part:
            continue
        ids = eng.register([s for s, _, _ in part], stream=streams[lo:hi])
        for sig in eng.update(ids, [t for _, t, _ in part], [p for _, _, p in part]):
            p = None if np.isnan(sig.p_hit) else sig.p_hit  # a crossover has none
            said.setdefault(sig.symbol, []).append((sig.id, sig.t, sig.price, p))
    return eng, said


def _row(eng: Engine, symbol: str) -> list[float]:
    st = eng.state()
    i = st.symbols.index(symbol)
    return [float(getattr(st, name)[i]) for name in FIELDS]


@pytest.fixture(scope="module")
def market() -> tuple[list, list]:
    # Stream B runs 7 minutes behind stream A: one clock over both would be A's.
    a = _stream(1, ["A0", "A1", "A2", "A3"], 0.0)
    b = _stream(2, ["B0", "B1", "B2", "B3"], 420.0)
    return a, b


def test_engines_that_split_the_streams_report_what_one_engine_of_both_reports(
    market: tuple[list, list],
) -> None:
    a, b = market
    alone_a, said_a = _run(a, [0] * len(a), cuts=40, seed=1)
    alone_b, said_b = _run(b, [7] * len(b), cuts=3, seed=2)  # the stream's number is a name
    for seed in (3, 4):  # two interleavings, in different batches
        ticks, streams = _merged(a, b, seed)
        both, said = _run(ticks, streams, cuts=25, seed=seed)
        for alone, own in ((alone_a, said_a), (alone_b, said_b)):
            for symbol in alone.symbols:
                np.testing.assert_array_equal(_row(both, symbol), _row(alone, symbol), symbol)
                assert said.get(symbol, []) == own.get(symbol, []), symbol
        record = both.track_record()
        parts = [alone_a.track_record(), alone_b.track_record()]
        np.testing.assert_array_equal(record.count, parts[0].count + parts[1].count)
        assert record.resolved == parts[0].resolved + parts[1].resolved > 1000
    # The maps were learnt (not the identity), and each stream's is its own.
    x, y = alone_a.calibration_map(0)
    assert not np.allclose(x, y, atol=0.01)
    for mine, alone, theirs in ((0, alone_a, 0), (1, alone_b, 7)):
        got, want = both.calibration_map(mine), alone.calibration_map(theirs)
        np.testing.assert_array_equal(np.stack(got), np.stack(want))
    assert sum(len(v) for v in said.values()) > 100


def test_in_one_stream_the_same_ticks_would_be_calibrated_on_both_at_once(
    market: tuple[list, list],
) -> None:
    """What streams are for: with every symbol in one stream the forecasts of A's symbols
    depend on B's ticks and on how the two interleave."""
    a, b = market
    alone_a, _ = _run(a, [0] * len(a), cuts=0)
    ticks, _ = _merged(a, b, 3)
    pooled, _ = _run(ticks, [0] * len(ticks), cuts=0)
    rows = [(_row(pooled, s)[5:7], _row(alone_a, s)[5:7]) for s in alone_a.symbols]
    assert any(got != want for got, want in rows)


def test_streams_must_be_integers_at_least_zero() -> None:
    eng = Engine()
    with pytest.raises(ValueError, match="streams must be integers"):
        eng.register(["X"], stream=-1)
    with pytest.raises(ValueError, match="streams must be integers"):
        eng.register(["X", "Y"], stream=[0.5, 1.0])  # type: ignore[list-item]
    assert eng.register(["X", "Y"], stream=[3, 4]).tolist() == [0, 1]
    assert eng.register(["X"], stream=9).tolist() == [0]  # registered already: stays in 3


def test_an_evicted_symbols_id_in_its_stream_is_taken_again() -> None:
    """Symbols that come and go in turn, over two streams: ids in a stream are reused,
    so its calibrator's memory follows the symbols held, not all symbols ever seen."""
    eng = Engine(EngineConfig(max_symbols=4), evict_idle=True)
    t = 1.7e9
    for round_ in range(50):
        names = [f"R{round_}S{i}" for i in range(4)]
        ids = eng.register(names, stream=[i % 2 for i in range(4)])
        assert (ids >= 0).all()
        eng.update(ids, t + np.arange(4.0), np.full(4, 100.0 + round_))
        t += 10.0
    assert eng.evicted == 49 * 4
    assert sorted(eng.state().n_ticks.tolist()) == [1, 1, 1, 1]
    held = {eng.state().symbols[i] for i in range(4)}
    assert held == {f"R49S{i}" for i in range(4)}
    s = eng._s  # the ids in each stream: two symbols each, ids 0 and 1
    assert sorted(zip(s.stream[:4].tolist(), s.local[:4].tolist(), strict=True)) == [
        (0, 0), (0, 1), (1, 0), (1, 1)
    ]  # fmt: skip


def test_a_symbol_registered_before_its_first_tick_takes_the_stream_of_that_tick() -> None:
    """A monitor sets limits (and so registers symbols) before their first tick arrives
    from a partition: the symbol goes to the partition's stream, and stays there."""
    eng = Engine()
    eng.set_limits("ACME", buy=90.0, sell=110.0)  # registered in stream 0, no tick yet
    eng.register(["BRIX"])  # no stream given: 0
    ids = eng.register(["ACME", "BRIX"], stream=[2, 3])
    assert eng.state().stream.tolist() == [2, 3]
    eng.update(ids, [1.0, 1.0], [100.0, 50.0])
    eng.register(["ACME", "BRIX"], stream=1)  # ticked already: they stay
    eng.register(["ACME"])
    assert eng.state().stream.tolist() == [2, 3]
    assert eng.streams == (0, 2, 3)  # 0: where they were first; 1 was never used
