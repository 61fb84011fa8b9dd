"""`limitwatch serve`: the monitor as a web page, through textual-serve.

The server is a small aiohttp application. Each browser tab that opens the page starts
its own monitor process, `limitwatch` with the options given to `serve`, and talks to it
over a websocket: the page runs xterm.js and the process runs Textual's web driver. So a
tab is exactly the terminal monitor, keys and all, with its own pipeline (its own
embedded broker unless `--bootstrap-servers` names a cluster). Closing the tab quits its
monitor the way `q` does.

The options travel to each monitor in an environment variable, not on its command line:
a command line is readable by every user of the machine (``/proc/PID/cmdline``) and
textual-serve prints and logs the command it runs, while ``-X sasl.password=...`` may be
among the options.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

#: The environment variable that hands the monitor's options to each page's process.
ARGV_ENV = "LIMITWATCH_SERVE_ARGV"
#: ... and the one that names the server's process, which each page's monitor outlives
#: by at most :data:`SERVER_CHECK_S` (killed with SIGKILL, the server cannot close them).
SERVER_ENV = "LIMITWATCH_SERVE_PID"
#: Seconds between a page's monitor's looks at whether its server still runs.
SERVER_CHECK_S = 1.0
#: The folder of the server's page templates: this, its process id and ``-``.
_TEMPLATES_PREFIX = "limitwatch-serve-"

#: The options of `serve` itself, each followed by a value; the rest go to the monitor.
_OWN = ("--port", "--host")


#: textual-serve's page loads its font from Google; served from this machine, the page
#: needs nothing from the internet (the terminal's own monospace font is used).
_REMOTE_FONT = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>\s*", re.S)


def _local_templates() -> str:
    """textual-serve's templates, written to a folder of this run with the link to a
    remote font taken out."""
    import tempfile

    import textual_serve

    from producer.broker import remove_stale_workdirs

    source = Path(textual_serve.__file__).parent / "templates"
    remove_stale_workdirs(prefix=_TEMPLATES_PREFIX)  # of a server that was killed
    folder = Path(tempfile.mkdtemp(prefix=f"{_TEMPLATES_PREFIX}{os.getpid()}-"))
    atexit.register(shutil.rmtree, folder, True)
    for template in source.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        (folder / template.name).write_text(_REMOTE_FONT.sub("", text), encoding="utf-8")
    return str(folder)


def monitor_argv(argv: list[str]) -> list[str]:
    """The command line of each page's monitor: ``argv`` (as given to `limitwatch`) without
    the word ``serve`` and without serve's own options.

    >>> monitor_argv(["--log-file", "x.log", "serve", "--port", "9000", "--source", "metrics"])
    ['--log-file', 'x.log', '--source', 'metrics']
    >>> monitor_argv(["serve", "--host=0.0.0.0", "--step", "1%"])
    ['--step', '1%']
    """
    at = argv.index("serve")
    rest, out = argv[at + 1 :], argv[:at]
    i = 0
    while i < len(rest):
        word = rest[i]
        if word in _OWN:
            i += 2
            continue
        if word.split("=", 1)[0] in _OWN:
            i += 1
            continue
        out.append(word)
        i += 1
    return out


#: Pages open at once at most: each runs a monitor (and its own broker, unless a cluster
#: is named).
MAX_PAGES = 8


def served_names(host: str, port: int) -> frozenset[str]:
    """The ``name:port`` a page of this server is reached under: loopback, this machine's
    names, and ``host`` (the address listened on). Worked out once, when serving starts
    (a machine's full name may take a DNS lookup).

    >>> sorted(served_names("127.0.0.1", 8000))[:3]
    ['127.0.0.1:8000', '[::1]:8000', 'localhost:8000']
    """
    import socket

    names = {"127.0.0.1", "localhost", "[::1]", socket.gethostname(), socket.getfqdn()}
    names.add(f"[{host}]" if ":" in host else host)
    return frozenset(f"{name.lower()}:{port}" for name in names)


def page_refused(host: str, origin: str | None, served: frozenset[str], open_pages: int) -> str:
    """Why a page's websocket is refused ("" when it is taken).

    Only a page served by this server may drive a monitor: a web page from anywhere else,
    open in the same browser, could otherwise connect to the loopback port, read the
    screen and press keys (its Origin is another site), or reach it under a name of its
    own through DNS rebinding (its Host is not one of ``served``, see
    :func:`served_names`). And at most :data:`MAX_PAGES` at once.

    >>> ours = frozenset({"127.0.0.1:8000"})
    >>> page_refused("127.0.0.1:8000", "http://127.0.0.1:8000", ours, 0)
    ''
    >>> page_refused("127.0.0.1:8000", "https://evil.example", ours, 0)
    'a page from another site (https://evil.example) may not drive the monitor'
    >>> page_refused("evil.example:8000", None, ours, 0)
    'not served under this name (evil.example:8000)'
    """
    if host.lower() not in served:
        return f"not served under this name ({host})"
    if origin is not None and origin.lower().split("://", 1)[-1] not in served:
        return f"a page from another site ({origin}) may not drive the monitor"
    if open_pages >= MAX_PAGES:
        return f"{MAX_PAGES} pages are open already; close one first"
    return ""


#: The most of a page's monitor's error output shown in the page, characters.
PAGE_ERROR_CHARS = 8_000
_NOT_SHOWN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class _KeptStderr:
    """Standard error as it was, keeping a copy of the first :data:`PAGE_ERROR_CHARS`
    written to it (anything else, ``fileno()`` say, is the stream's own)."""

    def __init__(self, through: Any) -> None:
        self.through = through
        self.kept: list[str] = []
        self._left = PAGE_ERROR_CHARS

    def write(self, text: str) -> int:
        if self._left > 0:
            self.kept.append(text[: self._left])
            self._left -= len(text)
        return int(self.through.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.through, name)


def page_error(text: str) -> bytes:
    """What a page's monitor that could not start writes to its page: the start of
    textual-serve's stream (its prelude, then one packet of terminal output) with
    ``text`` and what to do, for xterm.js to show (control characters taken out)."""
    lines = [
        "limitwatch: this page's monitor could not start:",
        "",
        *(_NOT_SHOWN.sub("", line) for line in text.rstrip().splitlines()),
        "",
        "It runs with the options `limitwatch serve` was given: stop the server (Ctrl-C),",
        "start it again with others, and open the page again.",
    ]
    data = "\r\n".join(lines).encode("utf-8", "replace")
    return b"__GANGLION__\n" + b"D" + len(data).to_bytes(4, "big") + data


def run_page(main: Callable[[list[str]], int]) -> int:
    """Run ``main`` with the options of this process (:func:`session_argv`). A page's
    monitor that ends on an error before its screen is up (a missing source file, a
    fixed broker port another page holds) shows the error in its page: the page was
    left blank, the reason only in the server's output and the log."""
    if ARGV_ENV not in os.environ:
        return main(session_argv())
    kept = _KeptStderr(sys.stderr)
    sys.stderr = kept
    try:
        code = main(session_argv())
    except SystemExit as exc:  # the command line refused (argparse has said why)
        if isinstance(exc.code, str):
            kept.write(exc.code + "\n")
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.stderr = kept.through
    # The web driver, once loaded, has written the prelude and drawn the screen.
    if code and "textual.drivers.web_driver" not in sys.modules:
        with contextlib.suppress(OSError):
            os.write(sys.__stdout__.fileno(), page_error("".join(kept.kept)))
    return code


def session_argv() -> list[str]:
    """The options of this process: from `serve` when a page started it (and then it
    quits once the server is gone: see :func:`stop_with_server`), else its own."""
    given = os.environ.pop(ARGV_ENV, None)
    if given is None:
        return sys.argv[1:]
    server = os.environ.pop(SERVER_ENV, "")
    if server.isdigit():
        stop_with_server(int(server))
    return [str(word) for word in json.loads(given)]


def _started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot), None once it has ended (a
    zombie has ended): with the pid, what tells it from a later process given its number."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def stop_with_server(pid: int, every_s: float = SERVER_CHECK_S) -> threading.Thread:
    """A page's monitor quits (SIGTERM to itself: the app's own exit, its broker
    stopped) once the server `pid` that started it is gone. Ctrl-C and SIGTERM on the
    server close every page, and each monitor with it; SIGKILL closes nothing, and the
    monitors, their brokers and their CPU stayed for good, each under a shell of its own."""
    started = _started(pid)

    def watch() -> None:
        while started is not None and _started(pid) == started:
            time.sleep(every_s)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="limitwatch-server-watch", daemon=True)
    thread.start()
    return thread


def _try_listen(host: str, port: int) -> None:
    """OSError where ``host:port`` cannot be listened on (taken, or no such address):
    the server printed that it was serving there before it found out."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        probe.bind(address)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Serve the monitor on ``args.host:args.port`` until Ctrl-C."""
    from textual_serve.server import Server

    if getattr(args, "source", None) == "-":
        print(
            "limitwatch serve: --source - cannot be read by a web page's monitor; give a "
            "file, metrics or the generator",
            file=sys.stderr,
        )
        return 2
    os.environ[ARGV_ENV] = json.dumps(monitor_argv(argv))
    os.environ[SERVER_ENV] = str(os.getpid())
    # -P: the monitor imports limitwatch as installed, never a folder of the same name
    # in the directory serve was started from.
    command = shlex.join([sys.executable, "-P", "-m", "tui.cli"])
    served = served_names(args.host, args.port)

    class _Server(Server):
        pages: ClassVar[set[Any]] = set()
        #: Pages being served, counted from the request on: a page joins ``pages`` only
        #: once its monitor has started, and tabs opened at the same moment all passed
        #: the limit (three at a limit of one, each with a monitor and a broker).
        serving: ClassVar[list[int]] = [0]

        async def handle_websocket(self, request: Any) -> Any:
            from aiohttp import web

            problem = page_refused(
                request.headers.get("Host", ""), request.headers.get("Origin"), served,
                self.serving[0],
            )  # fmt: skip
            if problem:
                return web.Response(status=403, text=problem)
            self.serving[0] += 1  # (one event loop: no other request runs in between)
            try:
                return await super().handle_websocket(request)
            finally:
                self.serving[0] -= 1

        async def _process_messages(self, websocket: Any, app_service: Any) -> None:
            self.pages.add(websocket)
            try:
                await super()._process_messages(websocket, app_service)
            finally:
                self.pages.discard(websocket)

        async def on_shutdown(self, app: object) -> None:
            # Each page's monitor quits as soon as its websocket closes (as on closing the
            # tab); left open, the server would wait for the websocket's heartbeat.
            for page in list(self.pages):
                await page.close()

        async def on_startup(self, app: object) -> None:  # textual-serve prints its command
            print(
                f"limitwatch: serving the monitor on {self.public_url} (each page opened "
                "starts its own monitor; Ctrl-C stops them all)",
                file=sys.stderr,
                flush=True,
            )

        def initialize_logging(self) -> None:  # keep the server's log lines quiet
            pass

    host = args.host
    shown = f"[{host}]" if ":" in host else host
    server = _Server(
        command, host=host, port=args.port, title="limitwatch", templates_path=_local_templates()
    )
    server.public_url = f"http://{shown}:{args.port}"
    try:
        _try_listen(host, args.port)  # before the server says it serves there
        server.serve()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"limitwatch serve: port {args.port} on {host} is taken; choose another with "
                "--port N",
                file=sys.stderr,
            )
            return 1
        print(f"limitwatch serve: cannot listen on {host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
