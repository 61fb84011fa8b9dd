"""A deterministic feed for UI tests: the real engine on seeded generator ticks, fixed
Kafka figures, no threads and no clock, so screenshots are the same on every run."""

from __future__ import annotations

import itertools

import numpy as np

from engine import Engine, EngineConfig, LimitError
from producer.control import ProducerStats
from producer.generator import MarketGenerator
from tui.runtime.snapshot import KafkaStats, Notice, PartitionLag, Snapshot

START = 1_700_000_000.0


class StaticFeed:
    """Runs `n_ticks` seeded ticks through the engine once; applies limit commands at once."""

    def __init__(
        self,
        seed: int = 7,
        n_ticks: int = 3000,
        symbols: int | list[str] = 12,
        config: EngineConfig | None = None,
        idle_s: float = 0.2,
    ) -> None:
        self.idle_s = idle_s
        self.engine = Engine(config or EngineConfig())
        gen = MarketGenerator(symbols=symbols, seed=seed, start=START)
        for symbol, (buy, sell) in gen.limits.items():
            self.engine.set_limits(symbol, buy=buy, sell=sell)
        ticks = list(itertools.islice(gen, n_ticks))
        ids = self.engine.register([t.symbol for t in ticks])
        self.signals = self.engine.update(
            np.asarray(ids, dtype=np.int32),
            np.array([t.ts for t in ticks]),
            np.array([t.price for t in ticks]),
        )
        self.last_ts = ticks[-1].ts if ticks else START
        self.seq = 1
        self.notices: list[Notice] = []
        self.commands: list[tuple[str, float | None, float | None]] = []
        self.shared: list[tuple[str, float, float, str]] = []
        self.paused: list[bool] = []
        self.speeds: list[float] = []
        self.recordings: list[str | None] = []
        self.selected: str | None = None
        self.producer = ProducerStats(source="generator(seed=7)", produced=3000, delivered=3000)

    def latest(self) -> Snapshot:
        kafka = KafkaStats(
            bootstrap="127.0.0.1:9092",
            embedded=True,
            topic="prices",
            broker_state="UP",
            health="OK",
            partitions=tuple(
                PartitionLag(p, 1000 + 10 * p, 1000 + 9 * p, p, 0.1 * p, (0, p, 2 * p, p))
                for p in range(4)
            ),
            consumed=3000,
            rate_in=50.0,
            bad_by=(("not JSON", 1), ("future time", 1)),
            dead_lettered=2,
            since_last_tick_s=self.idle_s,
            broker_rss=24 * 2**20,
        )
        return Snapshot(
            seq=self.seq,
            wall=self.last_ts,
            engine=self.engine.state(),
            signals=tuple(self.signals[-500:]),
            signal_count=len(self.signals),
            kafka=kafka,
            notices=tuple(self.notices),
            producer=self.producer,
            source="generator(seed=7)",
            chart_symbol=self.selected,
            history=self.engine.history(self.selected) if self.selected else None,
        )

    def set_limits(self, symbol: str, buy: float | None, sell: float | None) -> None:
        self.commands.append((symbol, buy, sell))
        try:
            self.engine.set_limits(symbol, buy=buy, sell=sell)
        except LimitError as exc:
            self.notices.append(Notice(len(self.notices) + 1, f"{symbol}: {exc}", error=True))
        self.seq += 1

    def share_limits(self, symbol: str, buy: float, sell: float, side: str = "") -> None:
        self.shared.append((symbol, buy, sell, side))

    def select(self, symbol: str | None) -> None:
        if symbol != self.selected:
            self.selected = symbol
            self.seq += 1

    def set_paused(self, paused: bool) -> None:
        self.paused.append(paused)

    def set_speed(self, speed: float) -> None:
        self.speeds.append(speed)

    def record(self, path: str | None) -> None:
        self.recordings.append(path)
