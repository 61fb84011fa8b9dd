"""Generated markets: reproducible, irregular, in arrival order, with the truth per tick."""

from __future__ import annotations

import numpy as np
import pytest

from producer.markets import KINDS, generate


@pytest.mark.parametrize("kind", KINDS)
def test_a_market_is_reproducible_ordered_and_carries_its_truth(kind: str) -> None:
    a = generate(kind, symbols=8, minutes=5, seed=3)
    b = generate(kind, symbols=8, minutes=5, seed=3)
    np.testing.assert_array_equal(a.price, b.price)
    assert (np.diff(a.t) >= 0).all()
    assert len(a.drift) == len(a.vol) == len(a.price) == len(a.sym)
    assert (a.price > 0).all() and (a.vol > 0).all()
    assert set(np.unique(a.sym).tolist()) == set(range(8))
    gaps = np.diff(a.t[a.sym == 0])
    assert gaps.std() > 0.2 * gaps.mean()  # irregular arrivals
    # plausible: a few % a day up to a few % an hour, per square-root second
    assert 3e-5 < float(np.median(a.vol)) < 3e-3


def test_the_tick_grid_market_sits_on_cents() -> None:
    m = generate("tick_grid", symbols=4, minutes=2, seed=1)
    np.testing.assert_allclose(m.price * 100, np.round(m.price * 100), atol=1e-6)


def test_seeds_and_kinds_give_different_markets() -> None:
    one = generate("drift", symbols=3, minutes=2, seed=1)
    two = generate("drift", symbols=3, minutes=2, seed=2)
    assert not np.array_equal(one.price[:50], two.price[:50])
