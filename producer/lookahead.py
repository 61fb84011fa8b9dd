"""The one line reader that can look at the first line before reading it: for files, named
pipes and standard input alike, stoppable while it waits for data.

A thread blocked in a plain `readline()` on a quiet pipe cannot be stopped, and at exit
it holds the buffered reader's lock, which hangs interpreter shutdown. This reader waits
with select() in short slices, checks its stop event in between, and reads the raw file
descriptor with os.read, so there is no buffered object to lock.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import threading
import time
from typing import BinaryIO

#: Longest wait between two looks at the stop event, seconds.
WAIT_S = 0.1


def first_non_blank(
    data: bytes | bytearray, limit: int, *, at_end: bool, skip_comments: bool = False
) -> tuple[bool, bytes | None]:
    """Look ahead in `data` (unread input) for its first line that is not blank.

    Returns ``(True, line)`` once found (newline included), ``(True, None)`` if it or the
    lines skipped before it pass `limit` bytes, and ``(False, None)`` while more input is
    needed to tell. With `at_end` (no more input) what is left after the blank lines is
    the line. With `skip_comments`, lines starting with ``#`` count as blank.
    """
    start = 0  # where the first line not yet known to be blank begins
    while (end := data.find(b"\n", start)) >= 0:
        if end >= limit:
            return True, None
        line = bytes(data[start : end + 1])
        if line.strip() and not (skip_comments and line.startswith(b"#")):
            return True, line
        start = end + 1
    if len(data) > limit:
        return True, None
    return (True, bytes(data[start:])) if at_end else (False, None)


class LookaheadReader:
    """`readline()` over a file descriptor, with :meth:`peek_line` to see the first line
    that is not blank before it is read. Returns b"" at end of input or once stopped.

    `source` is a file descriptor, or an open binary file whose descriptor is read (the
    file is kept open as long as the reader lives). Without a `stop` event the reader
    waits for data however long it takes.

    >>> r, w = os.pipe()
    >>> _ = os.write(w, b"\\nfirst\\nsecond\\n"); os.close(w)
    >>> reader = LookaheadReader(r)
    >>> reader.peek_line(1.0, 100), reader.readline(), reader.readline()
    (b'first\\n', b'\\n', b'first\\n')
    >>> reader.close()
    """

    def __init__(
        self, source: int | BinaryIO, stop: threading.Event | None = None, chunk: int = 65536
    ) -> None:
        self._file = None if isinstance(source, int) else source
        self.fd = source if isinstance(source, int) else source.fileno()
        self.stop = stop if stop is not None else threading.Event()
        self.chunk = chunk
        self._buffer = bytearray()
        self._eof = False

    def readline(self, limit: int = -1) -> bytes:
        """One line including its newline, at most `limit` bytes (when not negative)."""
        if limit == 0:
            return b""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0 and (limit < 0 or end < limit):
                return self._take(end + 1)
            if limit > 0 and len(self._buffer) >= limit:
                return self._take(limit)
            if self._eof or self.stop.is_set():
                return self._take(len(self._buffer))
            self._fill(WAIT_S)

    def peek_line(self, timeout: float, limit: int, *, skip_comments: bool = False) -> bytes | None:
        """The first line that is not blank, newline included, without consuming
        anything: waits at most `timeout` seconds (``math.inf``: until it is known) for it
        to arrive. None if by then it has not, if it (or the lines skipped before it) pass
        `limit` bytes, or if the reader was stopped; at the end of input, what is left
        after the blank lines. `skip_comments` skips lines starting with ``#`` as well.
        """
        deadline = time.monotonic() + timeout if math.isfinite(timeout) else math.inf
        while True:
            decided, line = first_non_blank(
                self._buffer, limit, at_end=self._eof, skip_comments=skip_comments
            )
            if decided:
                return line
            left = deadline - time.monotonic()
            if left <= 0 or self.stop.is_set():
                return None
            self._fill(min(left, WAIT_S))

    def _fill(self, wait: float) -> None:
        """Wait at most `wait` seconds for input and add what arrives to the buffer."""
        ready, _, _ = select.select([self.fd], [], [], wait)
        if ready:
            data = os.read(self.fd, self.chunk)
            if data:
                self._buffer.extend(data)
            else:
                self._eof = True

    def _take(self, n: int) -> bytes:
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    def close(self) -> None:
        """Close the file descriptor (and the file it came from, if any)."""
        with contextlib.suppress(OSError):
            if self._file is not None:
                self._file.close()
            else:
                os.close(self.fd)
