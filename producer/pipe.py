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
        start = 0  # where the first line not yet known to be blank begins
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= limit:
                return None
            if end >= 0:
                line = bytes(self._buffer[start : end + 1])
                if line.strip():
                    return line
                start = end + 1
                continue
            if self._eof:
                return None if len(self._buffer) > limit else bytes(self._buffer[start:])
            left = deadline - time.monotonic()
            if left <= 0 or len(self._buffer) > limit or self.stop.is_set():
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
