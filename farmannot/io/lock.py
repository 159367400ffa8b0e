"""One run at a time per output: a lock file that names its holder.

``output_lock(path, command)`` takes an exclusive ``flock`` on ``PATH/.farmannot.lock`` (an output folder) or
``.NAME.lock`` beside an output file, and writes the holder into it: pid, host, command, start time. A second
run refuses with one line naming the holder. The kernel drops the ``flock`` when its process dies (``kill -9``
included), so a lock file left by a dead run is taken over, with a message naming the run that left it.
A finished run removes its lock file.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from farmannot.errors import FarmannotError
from farmannot.io.atomic import missing_folders, remove_empty_folders, remove_temporaries, remove_temporaries_of

LOCK_NAME = ".farmannot.lock"


def lock_path(output: str | os.PathLike, folder: bool) -> Path:
    """The lock file of an output folder (inside it) or of an output file (beside it)."""
    p = Path(output)
    return p / LOCK_NAME if folder else p.parent / f".{p.name}.lock"


def describe_holder(info: dict) -> str:
    """``pid 123 on host, 'farmannot build-dataset', started 2026-01-01T10:00:00Z``."""
    if not info:
        return "holder unknown"
    return (f"pid {info.get('pid', '?')} on {info.get('host', '?')}, '{info.get('command', '?')}', "
            f"started {info.get('started', '?')}")


def _read(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    try:
        info = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"command": "unreadable lock file"}
    return info if isinstance(info, dict) else {}


def _read_path(path: Path) -> dict:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return {}
    try:
        return _read(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def output_lock(output: str | os.PathLike, command: str, *, folder: bool = True,
                echo: Callable[[str], None] | None = None) -> Iterator[dict]:
    """Hold the lock of ``output`` for the block; yield what was written into the lock file.

    Args:
        output: the output folder (created) or, with ``folder=False``, the output file.
        command: what the holder is doing, e.g. ``"farmannot build-dataset"``.
        folder: whether ``output`` is a folder.
        echo: where the stale-lock message goes (default: standard error).

    Raises:
        FarmannotError: another live run holds the lock, or the lock cannot be created (one line, naming it).
    """
    path = lock_path(output, folder)
    echo = echo or (lambda m: print(m, file=sys.stderr))
    made = missing_folders(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FarmannotError(f"{path.parent}: cannot create the output folder ({exc.strerror}); "
                             "check the path and its permissions.") from None
    try:
        with _locked(path, output, command, folder, echo) as info:
            yield info
    except BaseException:
        remove_empty_folders(made)  # a failed run leaves no empty folder it created (the lock file is gone)
        raise


@contextlib.contextmanager
def _locked(path: Path, output, command: str, folder: bool, echo: Callable[[str], None]) -> Iterator[dict]:
    """The lock itself: see :func:`output_lock`."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise FarmannotError(f"{path}: cannot create the lock file ({exc.strerror}); is the output folder "
                                 "writable?") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd) or _read_path(path)
            os.close(fd)
            raise FarmannotError(
                f"{output}: in use by another run ({describe_holder(holder)}); wait for it to finish or write "
                f"to another output. If no such run exists, delete {path}.") from None
        except OSError as exc:  # a file system without locks
            os.close(fd)
            raise FarmannotError(f"{path}: cannot lock ({exc.strerror}); write the output to a local disk.") from None
        # the file we locked must still be the one at the path (a finishing holder unlinks it)
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        previous = _read(fd)
        if previous:
            echo(f"note: {output}: taking over the lock left by a run that ended without releasing it "
                 f"({describe_holder(previous)}).")
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                "started": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(info) + "\n").encode("utf-8"))
        os.fsync(fd)
        # any temporary file of ours here now belongs to a run that was killed mid-write
        gone = remove_temporaries(output) if folder else remove_temporaries_of(output)
        if gone:
            echo(f"note: {output}: removed {len(gone)} temporary file(s) left by an interrupted run.")
        yield info
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still holding the lock: a waiting run re-checks the path (see above)
        os.close(fd)
