"""Budget restarts of the embedded broker, for real, in a process of their own: the clients
replaced at each restart leave no thread behind, and their new threads share the few
malloc arenas the pipeline allows instead of each keeping memory in one of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tui.runtime.pipeline import MALLOC_ARENAS

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
RESTARTS = 3

#: Run in a fresh interpreter: arenas made by earlier tests' threads would stay counted.
SCRIPT = textwrap.dedent(
    """
    import ctypes, json, os, re, sys, tempfile, time

    from producer.generator import MarketGenerator
    from tests.tui.waiting import wait_for
    from tui.runtime.pipeline import Pipeline, PipelineOptions

    def arenas():
        libc = ctypes.CDLL(None)
        libc.fopen.restype = ctypes.c_void_p
        libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.fclose.argtypes = [ctypes.c_void_p]
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        path = os.path.join(tempfile.mkdtemp(), "malloc.xml")
        f = libc.fopen(path.encode(), b"w")
        libc.malloc_info(0, f)
        libc.fclose(f)
        with open(path) as xml:
            return len(re.findall(r'<heap nr="', xml.read()))

    def threads():
        return len(os.listdir("/proc/self/task"))

    restarts = int(sys.argv[1])
    source = MarketGenerator(symbols=50, rate=5000, seed=3)
    pipeline = Pipeline(PipelineOptions(source=source, partitions=2))
    pipeline.start()
    try:
        wait_for(pipeline, lambda s: s.kafka.consumed > 2000, 60)
        before = threads()
        for n in range(1, restarts + 1):
            fresh = pipeline.broker.rss_bytes()
            pipeline.keeper.budget_bytes = fresh + 4 * 2**20  # a few seconds of ticks
            wait_for(
                pipeline,
                lambda s: s.kafka.broker_restarts >= n and "paused" in s.kafka.keeper,
                90,
            )
            pipeline.keeper.budget_bytes = 2**40  # no further restart until asked
            consumed = pipeline.latest().kafka.consumed
            wait_for(pipeline, lambda s: s.kafka.consumed > consumed + 2000, 60)
        print(json.dumps({"before": before, "after": threads(), "arenas": arenas()}))
    finally:
        assert pipeline.stop(timeout=5.0)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc, /proc")
def test_budget_restarts_keep_threads_and_malloc_arenas_bounded() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("MALLOC_ARENA_MAX", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(RESTARTS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{RESTARTS} budget restarts: {seen}")
    # Every replaced client's threads ended (a leaked client keeps 5 or more).
    assert seen["after"] <= seen["before"], seen
    # glibc's default here would be 8 per core; every thread's arena stays among the few.
    assert seen["arenas"] <= MALLOC_ARENAS, seen
