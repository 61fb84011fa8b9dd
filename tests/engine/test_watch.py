"""The WATCH discipline on scripted scores: expiry, quiet time and hysteresis, and the
vectorized walk against a plain per-tick loop."""

from __future__ import annotations

import numpy as np
import pytest
from reference import watch_loop

from engine.segments import make_batch
from engine.watch import NEVER, Discipline, Watch, watch_fires


def _loop(
    t: list[float], score: list[float], reached: list[bool], alert: float, rule: Discipline
) -> list[int]:
    rearm = rule.rearm * alert if alert > 0 else alert / rule.rearm
    return watch_loop(t, score, reached, alert, rearm, rule.expiry_s, rule.quiet_s)


def _fires(t: np.ndarray, score: np.ndarray, rule: Discipline, alert: float = 0.6) -> list[float]:
    b = make_batch(np.zeros(t.size, np.int32), 1)
    fired, _, _ = watch_fires(
        b,
        t,
        score[None],
        alert,
        np.zeros((1, t.size), bool),
        np.full((1, 1), Watch.ARMED, np.int8),
        np.full((1, 1), NEVER),
        rule,
    )
    return t[fired[0]].tolist()


def test_an_unanswered_watch_expires_after_the_horizon_and_a_high_p_warns_again() -> None:
    t = np.arange(0.0, 25.0)
    assert _fires(t, np.full(t.size, 0.8), Discipline(10.0, 5.0, 0.5)) == [0.0, 10.0, 20.0]
    # ticks that skip the expiry time warn at the first tick after it
    t = np.array([0.0, 4.0, 9.0, 11.5, 12.0])
    assert _fires(t, np.full(5, 0.8), Discipline(10.0, 5.0, 0.5)) == [0.0, 11.5]


def test_quiet_time_holds_back_a_second_watch_until_it_has_passed() -> None:
    t = np.arange(0.0, 12.0)
    # re-armed at 2 (p 0.2), likely again at 3: too soon, fires at the first tick > 5
    p = np.array([0.7, 0.7, 0.2, 0.7, 0.7, 0.7, 0.7, 0.7, 0.2, 0.2, 0.2, 0.2])
    assert _fires(t, p, Discipline(60.0, 5.0, 0.5)) == [0.0, 6.0]
    assert _fires(t, p, Discipline(60.0, 0.0, 0.5)) == [0.0, 3.0]


def test_hysteresis_a_p_hovering_above_the_rearm_level_does_not_rewarn() -> None:
    t = np.arange(0.0, 30.0)
    p = np.tile([0.7, 0.35], 15)  # above 0.5 * 0.6 = 0.3 between the highs
    assert _fires(t, p, Discipline(60.0, 0.0, 0.5)) == [0.0]
    p = np.tile([0.7, 0.3], 15)  # down to the re-arm level: every high warns
    assert len(_fires(t, p, Discipline(60.0, 0.0, 0.5))) == 15


def test_a_negative_score_rearms_at_the_distance_over_the_rearm_fraction() -> None:
    # score -distance: fires within 1 %, re-arms beyond 2 %
    t = np.arange(0.0, 6.0)
    d = np.array([0.5, 1.5, 0.5, 2.5, 0.8, 3.0])
    assert _fires(t, -d, Discipline(60.0, 0.0, 0.5), alert=-1.0) == [0.0, 4.0]


@pytest.mark.parametrize("seed", range(20))
def test_the_walk_matches_a_per_tick_loop_and_any_split_of_the_ticks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, streams = 400, 4
    ids = rng.integers(0, streams, n).astype(np.int32)
    t = np.sort(rng.uniform(0, 300, n)).round(0)  # repeated times included
    score = np.clip(0.5 + np.cumsum(rng.normal(0, 0.12, (2, n)), axis=1) / 4, 0, 1)
    reached = rng.random((2, n)) < 0.03
    rule = Discipline(float(rng.choice([5.0, 30.0])), float(rng.choice([0.0, 4.0, 40.0])), 0.5)
    cuts = np.sort(rng.choice(np.arange(1, n), 6, replace=False))
    states = np.full((2, streams), Watch.ARMED, np.int8)
    last = np.full((2, streams), NEVER)
    got = np.zeros((2, n), bool)
    for a, z in zip(np.r_[0, cuts], np.r_[cuts, n], strict=True):
        b = make_batch(ids[a:z], streams)
        fired, st, lf = watch_fires(
            b,
            t[a:z][b.order],
            score[:, a:z][:, b.order],
            0.6,
            reached[:, a:z][:, b.order],
            states[:, b.sym],
            last[:, b.sym],
            rule,
        )
        got[:, a + b.order] = fired
        states[:, b.sym], last[:, b.sym] = st, lf
    for side in range(2):
        for k in range(streams):
            at = np.flatnonzero(ids == k)
            want = _loop(
                t[at].tolist(), score[side, at].tolist(), reached[side, at].tolist(), 0.6, rule
            )
            assert np.flatnonzero(got[side, at]).tolist() == want
