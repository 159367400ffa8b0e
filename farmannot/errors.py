"""The one exception type farmannot raises for a user's mistake.

A :class:`FarmannotError` carries a message that names the file and says what to do. The CLI shows it as one
line and exits non-zero; a traceback only appears with ``-v``.

:func:`one_line` turns any other failure a user can act on (a full disk, a read-only folder, a too-deep file,
an image bomb, memory, a broken raster or geometry) into such a line too; batch code uses it for the failures
it records per input.
"""

from __future__ import annotations

import errno
import os


class FarmannotError(Exception):
    """A problem with the user's input (file, option, data) that the user can fix."""


class InputError(FarmannotError):
    """An input file is missing, unreadable or not what the command expects."""


_NOTE = "farmannot input: "

_OS_ADVICE = {
    errno.ENOSPC: "no space left on the device; free some space or write the output elsewhere",
    errno.EDQUOT: "disk quota exceeded; free some space or write the output elsewhere",
    errno.EACCES: "permission denied; check the file's and the folder's permissions or choose another path",
    errno.EPERM: "operation not permitted; check the permissions or choose another path",
    errno.EROFS: "the file system is read-only; write the output elsewhere",
    errno.ENOENT: "no such file or folder; check the path",
    errno.EISDIR: "is a folder, a file was expected; check the path",
    errno.ENOTDIR: "a part of the path is not a folder; check the path",
    errno.EIO: "input/output error from the disk; check the device and copy the file again",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) or use fewer workers",
}


def note_input(exc: BaseException, path: str | os.PathLike) -> BaseException:
    """Remember which input ``exc`` happened on, so its one line can name the file."""
    if hasattr(exc, "add_note") and input_of(exc) is None:
        exc.add_note(f"{_NOTE}{path}")
    return exc


def input_of(exc: BaseException) -> str | None:
    """The input noted on ``exc`` with :func:`note_input`, if any."""
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, str) and note.startswith(_NOTE):
            return note[len(_NOTE):]
    return None


def _is(exc: BaseException, module: str, name: str) -> bool:
    return any(c.__name__ == name and c.__module__.startswith(module) for c in type(exc).__mro__)


def expected_message(exc: BaseException) -> str | None:
    """The one-line explanation of a failure a user can act on; ``None`` for a bug.

    The message does not repeat the input's name (callers prefix it, see :func:`one_line`), except for
    ``OSError``'s own file name, which may be an output.
    """
    if isinstance(exc, FarmannotError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in _OS_ADVICE:
        where = exc.filename or ""
        return f"{where}: {_OS_ADVICE[exc.errno]}" if where else _OS_ADVICE[exc.errno]
    if isinstance(exc, RecursionError):
        return "nested too deeply to read (a broken or hostile file); re-save it from labelme or remove it"
    if isinstance(exc, MemoryError):
        return "out of memory; the input is too large for this machine (split it, or lower the tile/chip size)"
    if _is(exc, "PIL", "DecompressionBombError") or _is(exc, "PIL", "DecompressionBombWarning"):
        return (f"an embedded image is larger than the decoding limit ({exc}); remove or shrink it, "
                "or raise the limit in the settings")
    if _is(exc, "shapely", "GEOSException"):
        return f"invalid geometry ({exc}); fix the shape's vertices (NaN or infinite coordinates?)"
    if _is(exc, "rasterio", "RasterioIOError") or _is(exc, "rasterio", "CPLE_BaseError"):
        return f"cannot read the raster ({exc}); is the file complete?"
    return None


def one_line(exc: BaseException, path: str | os.PathLike | None = None) -> str:
    """``exc`` as one line, naming ``path`` (or the input noted on it) when the message does not already."""
    path = str(path) if path is not None else input_of(exc)
    msg = expected_message(exc)
    if msg is None:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        msg = f"internal error {type(exc).__name__}" + (f": {text}" if text else "")
    msg = " ".join(msg.split("\n"))
    if path and path not in msg:
        msg = f"{path}: {msg}"
    return msg
