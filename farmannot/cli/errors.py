"""One error path for every command: any failure becomes one line for the user.

An expected failure (a :class:`~farmannot.errors.FarmannotError`, or a broken disk, a too-deep file, an image
bomb, memory) is one line naming the file and what to do. An unexpected one (a bug) is one line plus the
file its full traceback was written to; ``farmannot -v`` shows the traceback instead.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
import traceback
from pathlib import Path

from farmannot.errors import expected_message, one_line

LOG_DIR_ENV = "FARMANNOT_LOG_DIR"


def log_dir() -> Path:
    """Where full tracebacks go: ``$FARMANNOT_LOG_DIR``, else ``~/.cache/farmannot/errors``, else the temp dir."""
    for cand in (os.environ.get(LOG_DIR_ENV), Path.home() / ".cache" / "farmannot" / "errors",
                 Path(tempfile.gettempdir()) / "farmannot-errors"):
        if not cand:
            continue
        try:
            Path(cand).mkdir(parents=True, exist_ok=True)
            if os.access(cand, os.W_OK):
                return Path(cand)
        except OSError:
            continue
    return Path(tempfile.gettempdir())


def write_traceback(exc: BaseException, command: str = "") -> Path | None:
    """Write ``exc``'s full traceback to a new file under :func:`log_dir`; its path, or ``None`` if that failed."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        path = log_dir() / f"{stamp}-{os.getpid()}-{command or 'farmannot'}.txt"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("".join(traceback.format_exception(exc)))
        return path
    except OSError:
        return None


def failure_line(exc: BaseException, command: str = "", path: str | os.PathLike | None = None) -> str:
    """The line a command prints for a failure that ends it: expected, or a bug with its traceback's file."""
    line = one_line(exc, path)
    if expected_message(exc) is None:
        tb = write_traceback(exc, command)
        where = f"full traceback in {tb}" if tb else "could not save the traceback"
        line += f" ({where}; 'farmannot -v {command or 'COMMAND'} ...' shows it)"
    return line
