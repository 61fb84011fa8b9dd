"""`limitwatch serve`: the monitor as a web page, driven in a real headless Chromium.

The browser test needs Debian's ``chromium`` package (``apt-get install chromium``; the CI
script installs it) and drives it with Playwright's Python API; no browser is downloaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from producer.broker import remove_stale_workdirs
from tui import serve as serve_module
from tui.cli import main
from tui.runtime.parser import build_parser
from tui.serve import (
    ARGV_ENV,
    MAX_PAGES,
    SERVER_ENV,
    monitor_argv,
    page_refused,
    served_names,
    session_argv,
)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Flags for a headless Chromium on a machine without a network beyond loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_ANSI = re.compile(rb"\x1b\[[0-9;?<>$]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_passes_every_option_but_its_own_to_the_monitor() -> None:
    argv = ["--log-file", "x.log", "serve", "--port", "9000", "--host=0.0.0.0", "--step", "1%"]
    assert monitor_argv(argv) == ["--log-file", "x.log", "--step", "1%"]
    assert monitor_argv(["serve", "--source", "metrics", "-X", "a=b"]) == [
        "--source", "metrics", "-X", "a=b",
    ]  # fmt: skip


def test_a_page_monitor_reads_its_options_from_the_environment_not_its_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "argv", ["limitwatch", "--step", "2%"])
    assert session_argv() == ["--step", "2%"]
    monkeypatch.setenv(ARGV_ENV, json.dumps(["-X", "sasl.password=hunter2"]))
    assert session_argv() == ["-X", "sasl.password=hunter2"]
    assert ARGV_ENV not in os.environ  # taken once, not passed on to the broker


def test_serve_refuses_standard_input_as_its_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--source", "-", "--log-file", os.devnull]) == 2
    assert "--source - cannot be read by a web page" in capsys.readouterr().err


def test_a_port_that_is_taken_is_named(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "tui.cli", "serve", "--port", str(port),
             "--log-file", str(tmp_path / "log")],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken; choose another with --port N" in done.stderr
    assert "serving the monitor" not in done.stderr  # said first, before the bind failed
    assert "Traceback" not in done.stderr


#: How long `serve` may take to stop with a page open. Its pages' monitors stop within a
#: second or two; before they were told, they waited for the websocket's 15 s heartbeat.
STOP_WITHIN_S = 10.0


def _stop(proc: subprocess.Popen[str]) -> None:
    """Ctrl-C to `serve`; it and every process it started (monitors, brokers) are gone."""
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
        pytest.fail(f"limitwatch serve did not stop within {STOP_WITHIN_S:g} s of Ctrl-C")
    _gone, alive = psutil.wait_procs(children, timeout=STOP_WITHIN_S)
    for left in alive:
        left.kill()
    assert not alive, f"left running after serve stopped: {[p.name() for p in alive]}"


@contextlib.contextmanager
def _serving(tmp_path: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "serve", "--port", str(port),
         "--log-file", str(tmp_path / "limitwatch.log"), *options],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        else:
            pytest.fail("limitwatch serve did not listen within 30 s")
        yield f"http://127.0.0.1:{port}/", proc
    finally:
        if proc.poll() is None:
            _stop(proc)


def _screen_text(frames: list[bytes]) -> str:
    return _ANSI.sub(b"", b"".join(frames)).decode("utf-8", "replace")


@pytest.mark.kafka
@pytest.mark.timeout(180)
@pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium)"
)
def test_the_page_shows_moving_prices_and_a_key_press_changes_a_limit(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    config = tmp_path / "config.toml"
    frames: list[bytes] = []

    def got(frame: str | bytes) -> None:
        frames.append(frame if isinstance(frame, bytes) else frame.encode())

    def wait_for(what: str, check: object, within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if check():  # type: ignore[operator]
                return
            page.wait_for_timeout(200)
        pytest.fail(f"the page did not show {what} within {within:g} s")

    with (
        _serving(
            tmp_path, "--config", str(config), "--symbols", "3", "--rate", "30", "--seed", "3"
        ) as (url, server),
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("websocket", lambda ws: ws.on("framereceived", got))
            remote: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(url) else remote.append(r.url))
            page.goto(url)
            wait_for("the watchlist", lambda: "ACME" in _screen_text(frames), 60)
            assert not any(u.startswith("http") for u in remote), remote  # nothing from afar

            def prices() -> set[str]:
                return set(re.findall(r"\b\d{2,4}\.\d\d\b", _screen_text(frames)))

            # Moving prices: numbers keep arriving that the page has not shown before.
            first = prices()
            wait_for("new prices", lambda: len(prices() - first) >= 5, 30)

            page.locator(".xterm-helper-textarea").focus()
            page.keyboard.press("S")  # raise the selected symbol's sell limit one step
            wait_for("the new sell limit", lambda: "sell limit →" in _screen_text(frames), 15)
            shown = re.search(r"(\w+) sell limit → ([\d.,]+)", _screen_text(frames))
            assert shown is not None
            symbol, sell = shown.group(1), float(shown.group(2).replace(",", ""))
            saved = config.read_text()
            line = re.search(rf'^"{symbol}" = \[([^,]+), ([^\]]+)\]', saved, re.M)
            assert line is not None, saved
            assert float(line.group(2)) == pytest.approx(sell, abs=0.006)
            _stop(server)  # Ctrl-C with the page still open
        finally:
            browser.close()


def test_only_pages_of_this_server_may_drive_a_monitor() -> None:
    served = served_names("127.0.0.1", 8000)
    ok = "http://127.0.0.1:8000"
    assert page_refused("127.0.0.1:8000", ok, served, 0) == ""
    assert page_refused("localhost:8000", "http://localhost:8000", served, 0) == ""
    assert "another site" in page_refused("127.0.0.1:8000", "https://evil.example", served, 0)
    assert "another site" in page_refused("127.0.0.1:8000", "http://127.0.0.1:9", served, 0)
    assert "not served under this name" in page_refused("evil.example:8000", ok, served, 0)
    assert "pages are open already" in page_refused("127.0.0.1:8000", ok, served, MAX_PAGES)
    assert "[::1]:8000" in served and "0.0.0.0:8000" in served_names("0.0.0.0", 8000)


@pytest.mark.timeout(120)
def test_a_websocket_from_another_site_is_refused(tmp_path: Path) -> None:
    import asyncio

    import aiohttp

    async def connect(url: str, origin: str) -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url, headers={"Origin": origin}) as ws:
                    await ws.close()
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    with _serving(tmp_path, "--symbols", "2") as (url, _server):
        ws = url.replace("http://", "ws://") + "ws"
        assert asyncio.run(connect(ws, "https://evil.example")) == 403


def test_a_page_whose_monitor_cannot_start_shows_why(tmp_path: Path) -> None:
    # The page stayed blank; the reason was only in the server's output and the log.
    import asyncio

    import aiohttp

    missing = tmp_path / "no-such-ticks.csv"

    async def page_text(url: str) -> str:
        got = b""
        origin = url.rstrip("/")  # as the page served from url says it is
        ws_url = url.replace("http://", "ws://") + "ws"
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(ws_url, headers={"Origin": origin}) as ws,
        ):
            deadline = time.monotonic() + 60
            while b"could not start" not in got or b"open the page again" not in got:
                left = deadline - time.monotonic()
                assert left > 0, f"the page showed no reason: {got!r}"
                message = await ws.receive(timeout=left)
                assert message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT)
                got += message.data if isinstance(message.data, bytes) else b""
        return got.decode()

    with _serving(tmp_path, "--source", str(missing)) as (url, _server):
        text = asyncio.run(asyncio.wait_for(page_text(url), 60))
    assert f"limitwatch: {missing}: no such file" in text
    assert "\x1b" not in text


def test_a_page_error_is_one_packet_of_plain_text_after_the_prelude() -> None:
    out = serve_module.page_error("limitwatch: bad\x1b]2;owned\x07 thing\nsecond line\n")
    assert out.startswith(b"__GANGLION__\nD")
    size = int.from_bytes(out[14:18], "big")
    body = out[18:].decode()
    assert len(out[18:]) == size
    assert "limitwatch: bad]2;owned thing\r\nsecond line\r\n" in body  # escapes taken out
    assert "\x1b" not in body and "\x07" not in body


def test_abbreviated_serve_options_are_refused_not_passed_on() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--po", "9000"])


def test_a_pages_monitor_quits_once_its_server_is_killed(tmp_path: Path) -> None:
    """`serve` killed with SIGKILL closes no page: each page's monitor, its broker and its
    CPU stayed for good. The monitor watches the server's process and quits (SIGTERM to
    itself, the app's own exit) once it is gone."""
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    page = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from tui.serve import stop_with_server
            stop_with_server({server.pid}, every_s=0.1)
            print("watching", flush=True)
            time.sleep(120)
        """)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert page.stdout is not None and page.stdout.readline().strip() == "watching"
        time.sleep(0.5)
        assert page.poll() is None, "quit while its server still ran"
        server.kill()  # not reaped: a zombie is gone too
        assert page.wait(timeout=10) == -signal.SIGTERM
    finally:
        for proc in (server, page):
            proc.kill()
            proc.wait()


def test_a_page_started_by_serve_takes_its_options_and_its_servers_pid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    watched: list[int] = []
    monkeypatch.setattr(serve_module, "stop_with_server", watched.append)
    monkeypatch.setenv(ARGV_ENV, json.dumps(["--step", "1%"]))
    monkeypatch.setenv(SERVER_ENV, "4242")
    assert session_argv() == ["--step", "1%"]
    assert watched == [4242]
    assert ARGV_ENV not in os.environ and SERVER_ENV not in os.environ


def test_the_page_templates_of_a_killed_server_are_removed_by_the_next(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"limitwatch-serve-{gone.pid}-abc"
    mine = tmp_path / f"limitwatch-serve-{os.getpid()}-abc"
    for folder in (stale, mine):
        folder.mkdir()
    assert remove_stale_workdirs(str(tmp_path), prefix="limitwatch-serve-") == [stale]
    assert mine.exists()
