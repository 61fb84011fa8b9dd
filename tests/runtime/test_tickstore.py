"""The backtest's tick store: every kept tick comes back once, by groups of whole symbols,
in arrival order, whether it stayed in memory or went to a temporary file."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.runtime.tickstore import StoreError, TickStore


def fill(store: TickStore, ids: np.ndarray, cuts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(ids.size, dtype=np.float64)  # arrival order, readable back from t
    p = 100.0 + ids + t / 1e6
    for lo, hi in zip([0, *cuts], [*cuts, ids.size], strict=True):
        store.append(ids[lo:hi], t[lo:hi], p[lo:hi])
    return t, p


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.integers(0, 12), min_size=0, max_size=300),
    group=st.integers(1, 80),
    cut_seed=st.integers(0, 2**31),
    drop=st.sets(st.integers(0, 12)),
)
def test_groups_return_every_kept_tick_once_by_whole_symbols_in_arrival_order(
    ids: list[int], group: int, cut_seed: int, drop: set[int]
) -> None:
    ids_a = np.asarray(ids, dtype=np.int32)
    rng = np.random.default_rng(cut_seed)
    cuts = sorted(rng.integers(0, ids_a.size + 1, 4).tolist()) if ids_a.size else []
    store = TickStore(group)
    t, p = fill(store, ids_a, cuts)
    assert len(store) == ids_a.size
    assert store.spilled == (ids_a.size > group)
    keep = np.ones(13, dtype=bool)
    keep[list(drop)] = False
    groups = list(store.groups(keep=keep))
    store.close()
    seen: set[int] = set()
    largest = int(np.bincount(ids_a).max()) if ids_a.size else 0
    for g_ids, g_t, g_p in groups:
        symbols = set(np.unique(g_ids).tolist())
        assert g_ids.size and not symbols & seen  # a symbol is in one group only
        seen |= symbols
        assert g_ids.size <= group + largest  # made up to `group`, but a symbol is whole
        for s in symbols:  # all of a symbol's ticks, in arrival order, values intact
            mine = g_ids == s
            assert g_t[mine].tolist() == t[ids_a == s].tolist()
            assert g_p[mine].tolist() == p[ids_a == s].tolist()
    assert seen == set(ids_a[keep[ids_a]].tolist()) if ids_a.size else seen == set()


def test_a_spilled_store_groups_as_one_kept_in_memory() -> None:
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 50, 20_000).astype(np.int32)
    cuts = list(range(1000, 20_000, 1000))
    kept, spilled = TickStore(10**6), TickStore(700)
    fill(kept, ids, cuts)
    fill(spilled, ids, cuts)
    assert not kept.spilled and spilled.spilled
    whole = next(kept.groups())
    parts = list(spilled.groups())
    assert len(parts) > 20
    joined = [np.concatenate(c) for c in zip(*parts, strict=True)]
    order = np.lexsort((joined[1], joined[0]))
    expected = np.lexsort((whole[1], whole[0]))
    for a, b in zip(joined, whole, strict=True):
        assert a[order].tolist() == b[expected].tolist()
    spilled.close()
    assert not spilled.spilled


def test_a_group_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        TickStore(0)


def test_a_temporary_folder_that_cannot_be_written_is_a_clear_error(tmp_path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    store = TickStore(10, folder=str(not_a_folder))
    store.append(np.zeros(5, np.int32), np.arange(5.0), np.ones(5))  # held in memory
    with pytest.raises(StoreError, match=r"temporary file in .*file .*set TMPDIR"):
        store.append(np.zeros(6, np.int32), np.arange(5.0, 11.0), np.ones(6))
    store.close()


def test_a_keep_mask_shorter_than_the_ids_leaves_out_the_symbols_past_it() -> None:
    store = TickStore(4)
    fill(store, np.array([0, 5, 1, 5, 2, 0, 5], dtype=np.int32), [3])
    kept = [g[0] for g in store.groups(keep=np.array([True, False, True]))]
    assert sorted(np.concatenate(kept).tolist()) == [0, 0, 2]
    store.close()


def test_records_lost_from_the_temporary_file_are_an_error_not_zeros() -> None:
    store = TickStore(3)
    fill(store, np.arange(10, dtype=np.int32) % 4, [])
    assert store.spilled
    store._file.truncate(5 * 20)  # as a disk that filled would leave it
    with pytest.raises(StoreError, match="lost records"):
        list(store.groups())
    store.close()
