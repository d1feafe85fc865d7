"""`pose-tf <verb>`: one entry point, one module per verb under `pose_tf/commands/`.

A command module defines `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`.
Modules are discovered, so adding a verb touches no other file. Heavy imports
(TensorFlow) happen inside `run`, so `pose-tf --help` is instant; a verb that never
touches TensorFlow sets `USES_TENSORFLOW = False` to skip its (quiet) pre-import.

Exit status (also in `pose-tf --help`): 0 done; 2 a usage or input error, reported in one
line naming the file, record or key; 130 interrupted by SIGINT (Ctrl-C), 143 stopped by
SIGTERM. An interrupted command leaves no temporary or half-written file behind.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pkgutil
import signal
import sys
import threading

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines, oneDNN notices) is
# noise to a user; silence it before anything imports TensorFlow. -v turns it back on.
if "-v" not in sys.argv and "--verbose" not in sys.argv:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from . import commands  # noqa: E402
from .core.errors import PoseTfError  # noqa: E402


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{commands.__name__}.{info.name}")


def version() -> str:
    """The installed distribution's version (its metadata); the package's __version__ when
    pose_tf runs from a source tree that was never installed."""
    from importlib import metadata

    try:
        return metadata.version("pose-tf")
    except metadata.PackageNotFoundError:
        from . import __version__
        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pose-tf",
        description="Bottom-up multi-person pose estimation and tracking with TensorFlow/Keras.",
        epilog="exit status: 0 done, 2 usage or input error (one line naming the file), "
               "130 interrupted (SIGINT), 143 terminated (SIGTERM)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    parser.add_argument("--version", action="version", version=f"pose-tf {version()}")
    sub = parser.add_subparsers(dest="command", metavar="VERB")
    sub.required = True
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _uses_tf=getattr(module, "USES_TENSORFLOW", True))
    return parser


def _quiet_tensorflow_import():
    """Import TensorFlow with file descriptor 2 muted: its C++ start-up lines are written
    before logging is configured, so TF_CPP_MIN_LOG_LEVEL cannot hide them."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is so its `with`/`finally` blocks run (temp files
    are removed); the default action would kill the process on the spot."""


def _raise_terminated(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)   # a second SIGTERM kills at once
    raise Terminated()


@contextlib.contextmanager
def _sigterm_unwinds():
    """For the duration of a command, SIGTERM unwinds like Ctrl-C does (SIGINT already
    raises KeyboardInterrupt). Handlers can only be set from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _os_error_line(exc: OSError) -> str:
    """'Permission denied: out/demo/a.json': what went wrong and with which file."""
    names = " -> ".join(str(n) for n in (exc.filename, exc.filename2) if n is not None)
    return f"{exc.strerror or exc}: {names}"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(message)s")
    if args._uses_tf and not args.verbose:
        _quiet_tensorflow_import()
    try:
        with _sigterm_unwinds():
            return int(args._run(args) or 0)
    except PoseTfError as exc:
        if args.verbose:
            raise
        print(f"pose-tf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A file the system refused (an --out that is a file, a read-only folder, a full
        # disk) is the user's to fix; an OSError without a file name is a bug: traceback.
        if args.verbose or exc.filename is None:
            raise
        print(f"pose-tf {args.command}: error: {_os_error_line(exc)}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"pose-tf {args.command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"pose-tf {args.command}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
