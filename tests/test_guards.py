"""tests/guards.py, run on small suites of their own: a worker that dies mid-run ends the
suite with that one test failed (stock pytest-xdist 3.8.0 waits for good under
``--dist loadgroup``), and a test stuck where pytest-timeout's signal cannot reach it is
ended, its threads' stacks printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FILES = {
    "test_a.py": "def test_a1(): pass\ndef test_a2(): pass\ndef test_a3(): pass\n",
    "test_b.py": "def test_b1(): pass\ndef test_b2(): pass\ndef test_b3(): pass\n",
    "test_g.py": (
        "import pytest, time\n"
        "@pytest.mark.xdist_group('g')\ndef test_g1(): time.sleep(0.3)\n"
        "@pytest.mark.xdist_group('g')\ndef test_g2(): pass\n"
        "def test_g3(): pass\n"
    ),
}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(
    "dies",
    [
        ("test_a.py", "def test_a2(): pass"),  # mid-module, with a test after it
        ("test_b.py", "def test_b3(): pass"),  # the last test of its module
        ("test_g.py", "def test_g1(): time.sleep(0.3)"),  # the first of an xdist_group
    ],
    ids=["mid-module", "end-of-module", "in-a-group"],
)
def test_a_worker_that_dies_fails_its_test_and_the_run_ends(
    tmp_path: Path, workers: int, dies: tuple[str, str]
) -> None:
    name, body = dies
    for file, text in FILES.items():
        if file == name:
            dying = body.split(":")[0] + ": __import__('os')._exit(3)"
            text = text.replace(body, dying)
        (tmp_path / file).write_text(text)
    run = _pytest(tmp_path, "-n", str(workers))
    summary = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 1, run.stdout + run.stderr
    assert summary.startswith("1 failed, 8 passed"), run.stdout
    assert "crashed while running" in run.stdout


def test_a_test_stuck_out_of_pytest_timeouts_reach_is_ended_with_its_stack(
    tmp_path: Path,
) -> None:
    """SIGALRM blocked stands for a test stuck inside C code: pytest-timeout's signal never
    lands; the hard timeout ends the worker, names the test and prints where it stood."""
    (tmp_path / "test_stuck.py").write_text(
        "import signal, time\n"
        "def test_before(): pass\n"
        "def test_stuck():\n"
        "    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\n"
        "    time.sleep(60)\n"
        "def test_after(): pass\n"
    )
    run = _pytest(tmp_path, "-n", "1", "-o", "timeout=1", "-o", "hard_timeout=3")
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1].startswith("1 failed, 2 passed"), run.stdout
    assert "crashed while running 'test_stuck.py::test_stuck'" in run.stdout
    assert "Timeout (0:00:03)!" in run.stderr
    assert 'test_stuck.py", line 5 in test_stuck' in run.stderr


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--dist", "loadgroup", "-p", "tests.guards",
         "-p", "no:cacheprovider", *args],
        cwd=folder, capture_output=True, text=True, timeout=90,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def test_a_unit_sent_to_a_worker_that_just_died_is_left_for_its_death_to_put_back() -> None:
    """A worker that died between two of its tests' reports: the next unit could not be
    sent ("cannot send (already closed?)"), an internal error that ended the whole run
    (seen once in CI). The unit stays assigned to it, and its death puts it back."""
    from collections import OrderedDict

    from tests.guards import CrashSafeLoadGroup

    class DeadWorker:
        shutting_down = False

        def send_runtest_some(self, indices: list[int]) -> None:
            raise OSError("cannot send (already closed?)")

        def shutdown(self) -> None:
            pass

    node = DeadWorker()
    sched = CrashSafeLoadGroup.__new__(CrashSafeLoadGroup)
    sched.log = lambda *args: None  # type: ignore[method-assign]
    sched.workqueue = OrderedDict([("m.py::b", {"m.py::b": False})])
    sched.assigned_work = {node: {"m.py::a": {"m.py::a": True}}}  # type: ignore[dict-item]
    sched.registered_collections = {node: ["m.py::a", "m.py::b"]}  # type: ignore[dict-item]
    sched._reschedule(node)  # type: ignore[arg-type]
    assert sched.assigned_work[node]["m.py::b"] == {"m.py::b": False}  # type: ignore[index]
    assert sched.remove_node(node) == "m.py::b"  # type: ignore[arg-type]
