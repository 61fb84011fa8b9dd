"""The `limitwatch` command: the monitor by default, plus replay, record, backtest,
evaluate and the headless commands.

    limitwatch                            embedded broker + market generator + monitor
    limitwatch --source prices.csv        the monitor on a file (or -, metrics, generator)
    limitwatch replay scenarios/rally.jsonl --speed 10
    limitwatch record out.jsonl --bootstrap-servers HOST:9092
    limitwatch backtest scenarios/crash.jsonl --json
    limitwatch engine --bootstrap-servers HOST:9092 --group g     headless engine
    limitwatch produce --bootstrap-servers HOST:9092 --source metrics
    limitwatch serve --port 8000          the monitor as a web page, one per browser tab

Only the monitor and replay load the terminal UI; every other command runs headless.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
import time


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `limitwatch` console script."""
    # When the command began, before numpy, scipy and Kafka's client load (about a
    # second): a reader of new ticks only reads those sent since then.
    started_at = time.time()
    try:
        return _main(argv, started_at)
    except KeyboardInterrupt:  # Ctrl-C while it loads or connects: 50 lines of traceback
        # otherwise, or (once caught) a command that ends without a word
        with contextlib.suppress(OSError, ValueError):  # the terminal gone with it
            print("limitwatch: stopped by Ctrl-C", file=sys.stderr, flush=True)
        return 130
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        from tui.runtime.common import quiet_stdout

        quiet_stdout()
        return 0
    except OSError as exc:  # the output's disk full, say: a sentence, not a traceback
        if exc.errno not in _CANNOT_WRITE:
            raise
        from tui.runtime.common import quiet_stdout, say

        quiet_stdout()
        where = f": {exc.filename}" if exc.filename else ""
        say(f"stopped: cannot write ({exc.strerror or exc}){where}")
        return 1


#: Errors of a write that no retry mends.
_CANNOT_WRITE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS)


def _main(argv: list[str] | None, started_at: float | None = None) -> int:
    # Loaded here, within main's catch of Ctrl-C (numpy, scipy, Kafka's client take a
    # second).
    from producer.kafka_config import KafkaConfigError, remember_secrets
    from tui.runtime.common import fail, resolve_kafka, say, topic_clash
    from tui.runtime.logs import LogFileError, redact_tracebacks, setup_logging
    from tui.runtime.parser import build_parser, options_after_command, secrets_in_argv

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    remember_secrets(secrets_in_argv(argv))  # before any message could repeat them
    redact_tracebacks()
    ignored: list[str] = []  # said once the line parses: not beside an error in it
    argv = options_after_command(parser, argv, warn=ignored.append)
    args = parser.parse_args(argv)
    for message in ignored:
        say(message)
    clash = topic_clash(args)
    if clash is not None:
        return fail(clash)
    try:
        # None when the default place cannot be written: the broker's log is skipped too.
        args.log_path = setup_logging(
            getattr(args, "log_file", None), what=getattr(args, "command", None) or "monitor"
        )
        args.started_at = started_at
    except LogFileError as exc:
        return fail(str(exc))
    if hasattr(args, "kafka_properties"):
        try:
            resolve_kafka(args)
        except KafkaConfigError as exc:
            return fail(str(exc))
    func = getattr(args, "func", None)
    if func is not None:  # a Ctrl-C they do not catch themselves is main's
        # A script's background job starts with SIGINT ignored, and `kill -INT` is how
        # such a job is stopped: taken from the start, not only once a command's loop
        # runs (engine, produce and record waiting for a broker that does not answer
        # went on for their whole 10 s).
        ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        if ignored:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return int(func(args) or 0)
        finally:  # as it was (main called within a process that ignores it, as a test's)
            if ignored:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
    from tui import monitor  # the terminal UI, only for the monitor and replay

    if getattr(args, "command", None) == "serve":
        from tui import serve

        return serve.run(args, argv)
    if getattr(args, "command", None) == "replay":
        return monitor.run_replay(args)
    return monitor.run_monitor(args)


if __name__ == "__main__":  # also how each page of `limitwatch serve` starts its monitor
    from tui.serve import run_page

    sys.exit(run_page(main))
