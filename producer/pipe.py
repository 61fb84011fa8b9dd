"""A line reader for a pipe that can be told to stop while it waits for data.

A thread blocked in a plain `readline()` on a quiet pipe cannot be stopped, and at exit
it holds the buffered reader's lock, which hangs interpreter shutdown. This reader waits
with select() in short slices, checks its stop event in between, and reads the raw file
descriptor with os.read, so there is no buffered object to lock.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time

#: Longest wait between two looks at the stop event, seconds.
WAIT_S = 0.1


def first_non_blank(
    data: bytes | bytearray, limit: int, *, at_end: bool
) -> tuple[bool, bytes | None]:
    """Look ahead in `data` (unread input) for its first line that is not blank.

    Returns ``(True, line)`` once found (newline included), ``(True, None)`` if it or the
    blank lines before it pass `limit` bytes, and ``(False, None)`` while more input is
    needed to tell. With `at_end` (no more input) what is left after the blank lines is
    the line.
    """
    start = 0  # where the first line not yet known to be blank begins
    while (end := data.find(b"\n", start)) >= 0:
        if end >= limit:
            return True, None
        line = bytes(data[start : end + 1])
        if line.strip():
            return True, line
        start = end + 1
    if len(data) > limit:
        return True, None
    return (True, bytes(data[start:])) if at_end else (False, None)


class PipeReader:
    """`readline()` over a file descriptor; returns b"" at end of input or once stopped."""

    def __init__(self, fd: int, stop: threading.Event, chunk: int = 65536) -> None:
        self.fd = fd
        self.stop = stop
        self.chunk = chunk
        self._buffer = bytearray()
        self._eof = False

    def readline(self, limit: int = -1) -> bytes:
        """One line including its newline, at most `limit` bytes (when positive)."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0 and (limit < 0 or end < limit):
                return self._take(end + 1)
            if limit > 0 and len(self._buffer) >= limit:
                return self._take(limit)
            if self._eof or self.stop.is_set():
                return self._take(len(self._buffer))
            ready, _, _ = select.select([self.fd], [], [], WAIT_S)
            if not ready:
                continue
            data = os.read(self.fd, self.chunk)
            if data:
                self._buffer.extend(data)
            else:
                self._eof = True

    def peek_line(self, timeout: float, limit: int) -> bytes | None:
        """The first line that is not blank, newline included, without consuming
        anything: waits at most `timeout` seconds for it to arrive. None if by then it
        has not, if it (or the blank lines before it) pass `limit` bytes, or if the
        reader was stopped; at the end of input, what is left after the blank lines.
        """
        deadline = time.monotonic() + timeout
        while True:
            decided, line = first_non_blank(self._buffer, limit, at_end=self._eof)
            if decided:
                return line
            left = deadline - time.monotonic()
            if left <= 0 or self.stop.is_set():
                return None
            ready, _, _ = select.select([self.fd], [], [], min(left, WAIT_S))
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
        """Close the file descriptor."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
