"""Log set-up: a log file the user chose must open or fail with a clear error; the default
log place failing only warns, and nothing is ever printed to the terminal instead."""

from __future__ import annotations

import logging
import logging.handlers
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.runtime.logs import (
    LogFileError,
    SharedRotatingFileHandler,
    default_log_path,
    setup_logging,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    """setup_logging replaces the root logger's handlers; give pytest its own back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler not in handlers:
            handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.fixture
def unwritable_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the default log place under a regular file, where no directory can be made."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    return default_log_path()


def test_records_go_to_the_chosen_file(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "l.log"
    assert setup_logging(path) == path
    logging.getLogger("limitwatch").warning("hello %s", "file")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "WARNING limitwatch: hello file" in path.read_text()


def test_each_line_names_the_command_and_its_process(tmp_path: Path) -> None:
    """The processes of one machine share the default file: a limits record five of them
    read was logged five times alike, applied or refused by which none could tell."""
    path = tmp_path / "l.log"
    setup_logging(path, what="engine")
    logging.getLogger("limitwatch").warning("hello")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert f" [engine {os.getpid()}] WARNING limitwatch: hello" in path.read_text()


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_a_chosen_log_file_that_cannot_be_opened_raises_log_file_error_naming_it(
    where: str, tmp_path: Path
) -> None:
    if where == "a directory":
        path = tmp_path
    else:
        (tmp_path / "f").write_text("")
        path = tmp_path / "f" / "l.log"
    with pytest.raises(LogFileError, match=r"cannot write the log file .*--log-file") as e:
        setup_logging(path)
    assert str(path) in str(e.value)


def test_a_chosen_log_file_that_fails_leaves_the_previous_logging_in_place(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good.log"
    setup_logging(good)
    before = list(logging.getLogger().handlers)
    with pytest.raises(LogFileError):
        setup_logging(tmp_path)
    assert logging.getLogger().handlers == before


@pytest.mark.parametrize("spelled_out", [False, True], ids=["None", "default_log_path()"])
def test_an_unwritable_default_log_place_warns_once_and_drops_records_silently(
    spelled_out: bool, unwritable_default: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert setup_logging(unwritable_default if spelled_out else None) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "warning: cannot write the log file" in err
    assert str(unwritable_default) in err
    logging.getLogger("limitwatch").error("must not reach the terminal")
    assert capsys.readouterr().err == ""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_backtest_carries_on_with_a_warning_when_the_default_log_place_is_unwritable(
    unwritable_default: Path,
) -> None:
    result = _cli("backtest", "scenarios/rally.jsonl")  # inherits XDG_STATE_HOME
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "warning: cannot write the log file" in result.stderr
    assert "crossings warned ahead" in result.stdout


def test_produce_refuses_a_log_file_that_is_a_directory_with_one_line_and_no_traceback(
    tmp_path: Path,
) -> None:
    result = _cli("produce", "--bootstrap-servers", "127.0.0.1:1", "--log-file", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"limitwatch: cannot write the log file {tmp_path}" in result.stderr


def test_processes_sharing_a_log_rotate_it_without_a_word_on_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Processes sharing one log (a monitor and an engine beside it) race to rotate it:
    one finds the file renamed by another between its look and its own rename. Every
    record is still written, and nothing is printed (the standard handler printed
    "--- Logging error ---", FileNotFoundError and the record's arguments)."""
    path = tmp_path / "shared.log"
    real_rename = logging.handlers.os.rename
    raced: list[str] = []

    def rename(src: str, dst: str) -> None:
        if not raced:  # another process got there first
            raced.append(dst)
            raise FileNotFoundError(2, "No such file or directory", src)
        real_rename(src, dst)

    monkeypatch.setattr(logging.handlers.os, "rename", rename)
    handler = SharedRotatingFileHandler(path, maxBytes=2_000, backupCount=2)
    try:
        for i in range(200):
            handler.emit(logging.makeLogRecord({"msg": f"record {i:04d} " + "x" * 40}))
    finally:
        handler.close()
    written = "".join(p.read_text() for p in tmp_path.glob("shared.log*"))
    assert raced and "record 0199" in written
    assert capsys.readouterr().err == ""
