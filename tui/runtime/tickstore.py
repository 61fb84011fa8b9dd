"""The ticks of a backtest kept for its scoring, handed back a group of symbols at a time.

Scoring the forecast against the naive alarms needs every tick of a symbol at once (an
alarm's threshold is swept over all of them), but never two symbols' ticks together: a
stream's figures depend on its own ticks only (:func:`engine.evaluation.evaluate`). So
the store keeps the ticks as 20-byte records (id, time, price), in memory up to
``group_ticks`` of them and beyond that in an unnamed temporary file, and hands them
back in groups of whole symbols of about ``group_ticks`` ticks each: the scoring's
memory follows the group, not the file (about 230 bytes a tick while a group is
scored, so a million-tick group would cost more than the whole engine run). A symbol
is never split, so a group may pass ``group_ticks`` by up to the largest symbol's
ticks, and a symbol of many millions of ticks is scored whole.

On disk the records are written in arrival order; before the groups are read, each
block of ``group_ticks`` records is sorted in place by group (stably, so a symbol's
ticks keep their order), and a group is then read back as one slice of each block.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO

import numpy as np
import numpy.typing as npt

__all__ = ["GROUP_TICKS", "Columns", "StoreError", "TickStore"]

#: Ticks per group scored at once (about 46 MB of scoring at 230 bytes a tick).
GROUP_TICKS = 200_000
RECORD = np.dtype([("id", "<i4"), ("t", "<f8"), ("p", "<f8")])


class StoreError(Exception):
    """The ticks could not be kept in the temporary file; the message says what to do."""


Columns = tuple[npt.NDArray[np.int32], npt.NDArray[np.float64], npt.NDArray[np.float64]]


class TickStore:
    """Ticks appended in arrival order, read back by groups of symbols.

    Parameters
    ----------
    group_ticks : int
        Ticks held in memory before the store goes to a temporary file, and the size a
        group of symbols is made up to (a group is larger only when one symbol has more).
    folder : str, optional
        Where the temporary file goes (the system's temporary folder by default).
    """

    def __init__(self, group_ticks: int = GROUP_TICKS, folder: str | None = None) -> None:
        if group_ticks < 1:
            raise ValueError(f"group_ticks must be at least 1, got {group_ticks}")
        self.group_ticks = group_ticks
        self.folder = folder
        self.count: npt.NDArray[np.int64] = np.zeros(0, np.int64)
        self._held: list[np.ndarray] = []
        self._held_n = 0
        self._file: IO[bytes] | None = None
        self._on_disk = 0
        #: Groups :meth:`groups` hands back, known once it has started.
        self.group_count = 0

    def __len__(self) -> int:
        return self._on_disk + self._held_n

    @property
    def spilled(self) -> bool:
        """Whether the ticks went to a temporary file."""
        return self._file is not None

    def append(self, ids: npt.ArrayLike, t: npt.ArrayLike, price: npt.ArrayLike) -> None:
        """Keep a batch of ticks (symbol ids >= 0, in arrival order)."""
        ids_a = np.asarray(ids, dtype=np.int32)
        if not ids_a.size:
            return
        rec = np.empty(ids_a.size, RECORD)
        rec["id"], rec["t"], rec["p"] = ids_a, t, price
        top = int(ids_a.max()) + 1
        if top > self.count.size:
            self.count = np.concatenate([self.count, np.zeros(top - self.count.size, np.int64)])
        self.count += np.bincount(ids_a, minlength=self.count.size)
        self._held.append(rec)
        self._held_n += rec.size
        if self._held_n > self.group_ticks:
            self._spill()

    def _spill(self) -> None:
        try:
            if self._file is None:
                # closed by close(): the backtest and evaluate hold the store in a `with`
                self._file = tempfile.TemporaryFile(prefix="limitwatch-ticks-", dir=self.folder)  # noqa: SIM115
            self._file.seek(self._on_disk * RECORD.itemsize)
            for rec in self._held:
                _write(self._file, rec)
            self._file.flush()  # a disk that fills says so here, not later
        except OSError as exc:
            where = self.folder or tempfile.gettempdir()
            raise StoreError(
                f"cannot keep the ticks for the scoring in a temporary file in {where} "
                f"({exc.strerror or exc}; {len(self) * RECORD.itemsize / 1e6:,.0f} MB "
                "needed so far): set TMPDIR to a folder with room"
            ) from None
        self._on_disk += self._held_n
        self._held, self._held_n = [], 0

    def groups(self, keep: npt.ArrayLike | None = None) -> Iterator[Columns]:
        """The ticks by groups of whole symbols (ids ascending), each group's ticks in
        arrival order: ``(ids, t, price)``. ``keep``, a mask by symbol id, leaves out the
        symbols where it is false. Reads what :meth:`append` kept; call it once, at the
        end."""
        keep_ids = np.ones(self.count.size, dtype=bool)
        if keep is not None:
            mask = np.asarray(keep, dtype=bool)
            keep_ids[:] = False
            keep_ids[: min(mask.size, keep_ids.size)] = mask[: keep_ids.size]
        counts = np.where(keep_ids, self.count, 0)
        # Whole symbols in id order, a new group wherever the running count passes a
        # multiple of group_ticks; empty groups (and left-out symbols) are dropped.
        raw = (np.cumsum(counts) - counts) // self.group_ticks
        present = counts > 0
        group_of = np.full(self.count.size, -1, dtype=np.int64)
        if present.any():
            group_of[present] = np.unique(raw[present], return_inverse=True)[1]
        n_groups = int(group_of.max()) + 1 if present.any() else 0
        self.group_count = n_groups
        if self._file is None:
            rec = np.concatenate(self._held) if self._held else np.empty(0, RECORD)
            for g in range(n_groups):
                part = rec[group_of[rec["id"]] == g]
                yield part["id"].copy(), part["t"].copy(), part["p"].copy()
            return
        self._spill()
        yield from self._read_groups(group_of, n_groups)

    def _read_groups(self, group_of: npt.NDArray[np.int64], n_groups: int) -> Iterator[Columns]:
        f = self._file
        assert f is not None
        size, block = RECORD.itemsize, self.group_ticks
        starts = range(0, self._on_disk, block)
        # Per block, where each group's records begin once the block is sorted by group.
        offsets = np.empty((len(starts), n_groups + 1), dtype=np.int64)
        try:
            for b, start in enumerate(starts):
                rec = _read(f, start, min(block, self._on_disk - start))
                g = group_of[rec["id"]]
                order = np.argsort(g, kind="stable")
                f.seek(start * size)
                _write(f, rec[order])
                offsets[b] = start + np.searchsorted(g[order], np.arange(n_groups + 1))
            f.flush()
        except OSError as exc:
            raise StoreError(f"cannot sort the scoring's temporary file: {exc}") from None
        for g in range(n_groups):
            parts = []
            for b in range(len(starts)):
                lo, hi = int(offsets[b, g]), int(offsets[b, g + 1])
                if hi > lo:
                    parts.append(_read(f, lo, hi - lo))
            rec = np.concatenate(parts) if parts else np.empty(0, RECORD)
            yield rec["id"].copy(), rec["t"].copy(), rec["p"].copy()

    def __enter__(self) -> TickStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the temporary file, if any (it goes at exit anyway: it has no name)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._held, self._held_n, self._on_disk = [], 0, 0


def _write(f: IO[bytes], rec: np.ndarray) -> None:
    """Write records through Python's file object, which raises when the disk is full
    (``ndarray.tofile`` can lose a failed flush of its own buffer)."""
    if f.write(rec.view(np.uint8).data) != rec.nbytes:
        raise OSError("short write to the temporary file")


def _read(f: IO[bytes], start: int, count: int) -> np.ndarray:
    """``count`` records from record ``start``; a file shorter than it kept is an error."""
    f.seek(start * RECORD.itemsize)
    raw = f.read(count * RECORD.itemsize)
    if len(raw) != count * RECORD.itemsize:
        raise StoreError(
            f"the scoring's temporary file lost records ({len(raw) // RECORD.itemsize:,} of "
            f"{count:,} read back): was the disk full?"
        )
    return np.frombuffer(raw, dtype=RECORD).copy()
