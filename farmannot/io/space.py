"""Checks before long work: is there room on the output's disk for what the run will write?"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from farmannot.errors import FarmannotError
from farmannot.io.atomic import missing_folders, remove_empty_folders

MIN_FREE_BYTES = 16 * 1024 * 1024  # logs, reports, temporary files


def _existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def human_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def check_free_space(output: str | os.PathLike, need_bytes: int, what: str) -> None:
    """Refuse before the work starts when the disk holding ``output`` has less than ``need_bytes`` free.

    ``need_bytes`` is a lower bound of what the run writes (callers estimate it from pixel counts), plus a
    small margin, so the check never refuses a run that would have fitted.

    Raises:
        FarmannotError: too little free space (one line: the folder, free and needed sizes).
    """
    where = _existing(Path(output))
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return  # a file system that cannot say: the writes themselves will tell
    need = int(need_bytes) + MIN_FREE_BYTES
    if free < need:
        raise FarmannotError(f"{output}: {human_bytes(free)} free on its disk, at least {human_bytes(need)} needed "
                             f"for {what}; free some space or write the output elsewhere.")


def check_writable(output_file: str | os.PathLike) -> None:
    """Refuse before the work starts when the folder of ``output_file`` cannot take a new file.

    Raises:
        FarmannotError: the folder cannot be created or written (one line naming it and why).
    """
    import tempfile

    folder = Path(output_file).parent
    made = missing_folders(folder)  # a probe leaves no folder behind: the writer creates it when it writes
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".farmannot-write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        remove_empty_folders(made)
        raise FarmannotError(f"{output_file}: cannot write into {folder} ({exc.strerror}); choose another "
                             "output path or fix the folder's permissions.") from None
    remove_empty_folders(made)
