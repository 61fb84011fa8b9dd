"""The market generator: reproducible from its seed, and its prices reach their limits."""

from __future__ import annotations

import itertools
import math
import threading
import time

from producer.generator import MarketGenerator, symbol_names
from producer.kafka_producer import ProducerThread


def _take(gen: MarketGenerator, n: int) -> list:
    return list(itertools.islice(gen, n))


def test_same_seed_gives_the_same_ticks() -> None:
    a = _take(MarketGenerator(seed=3, start=1000.0), 500)
    b = _take(MarketGenerator(seed=3, start=1000.0), 500)
    c = _take(MarketGenerator(seed=4, start=1000.0), 500)
    assert a == b
    assert a != c


def test_event_times_increase_at_about_the_rate() -> None:
    ticks = _take(MarketGenerator(rate=50.0, seed=1, start=0.0), 5000)
    times = [t.ts for t in ticks]
    assert all(b >= a for a, b in itertools.pairwise(times))
    assert 80 < times[-1] < 120  # 5000 ticks at 50/s is about 100 s
    assert all(t.price > 0 and math.isfinite(t.price) for t in ticks)


def test_prices_reach_some_limits_within_ten_minutes() -> None:
    gen = MarketGenerator(seed=7, start=0.0)
    hit = set()
    for t in itertools.islice(gen, 50 * 600):
        buy, sell = gen.limits[t.symbol]
        if t.price <= buy or t.price >= sell:
            hit.add(t.symbol)
    assert len(hit) >= len(gen.symbols) // 2


def test_symbol_names_extend_past_the_built_in_list() -> None:
    names = symbol_names(40)
    assert len(names) == len(set(names)) == 40


def test_a_slow_generator_is_sent_on_the_clock_not_ahead_of_it() -> None:
    """--rate 0.001 waited at most max_gap_s (5 s) a tick, as for a quiet stretch of a
    recording, and stamped its ticks 1,000 s ahead of the clock, which the engine then
    refused as from the future. The generator's times are when to send."""

    producer = ProducerThread("127.0.0.1:1", MarketGenerator(symbols=3, rate=4.0), topic="t")
    producer.max_gap_s = 0.05  # every gap of the generator is longer than that
    producer._delivered = producer._failed = producer._produced = 0  # as run() starts them
    producer._last_error = ""
    sent: list[tuple[float, float]] = []
    producer._produce = lambda tick: sent.append((tick.ts, time.time()))  # type: ignore[method-assign]
    producer._recover = lambda: False  # type: ignore[method-assign]
    producer._poll = lambda timeout: time.sleep(min(timeout, 0.01))  # type: ignore[method-assign]
    pump = threading.Thread(target=producer._pump)
    pump.start()
    time.sleep(1.5)
    producer._stop_event.set()
    pump.join(5)
    assert len(sent) >= 2
    assert max(ts - at for ts, at in sent) < 0.05  # none sent before its time
