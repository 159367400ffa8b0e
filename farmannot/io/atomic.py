"""Atomic writes: every file farmannot writes goes to a temporary name first, then is renamed.

With the default ``sync=True`` a crash never leaves a half-written file under the final name; a re-run sees
either the old file or the complete new one. With ``sync=False`` that holds only once :func:`sync_files` has
run: before it, the rename may reach the disk ahead of the data (ext4's delayed allocation, XFS), so a crash
can leave a short or empty file under the final name. Such files are made durable per work unit, and a resume
re-verifies each unit's files against their recorded checksums.

Durability: a file is flushed to disk (``fsync``) before its rename by default. Writers of many small files
that are recorded as a batch (a dataset's tiles, recorded per work unit) pass ``sync=False`` and make the
whole batch durable at once with :func:`sync_files` before they write the record that names the files: a
crash may lose tiles not yet synced, but never leaves a record pointing at a file whose bytes are not on disk.
On Linux that is one ``syncfs`` of the output's file system (measured: docs/BENCHMARKS.md, "Tile
durability"), ``sync`` where ``syncfs`` is missing; elsewhere (macOS, Windows) every file of the batch is
``fsync``'ed, then its folder where the OS allows.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Iterator


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: the classic read-and-restore (not thread-safe, done once a write)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open()`` gives a new file: 0o666 less the umask (0o644 under umask 022)."""
    return 0o666 & ~_umask()


def missing_folders(folder: str | os.PathLike) -> list[Path]:
    """The folders that creating ``folder`` (with its parents) would make, deepest first."""
    out = []
    p = Path(folder).absolute()
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def remove_empty_folders(folders: Iterable[Path]) -> None:
    """Remove ``folders`` (deepest first, as :func:`missing_folders` lists them) while they are empty: a run
    that created its output folder and failed leaves no empty folder behind. A folder holding anything is kept,
    and so are the folders above it."""
    for p in folders:
        try:
            os.rmdir(p)
        except OSError:
            return


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    Use this for writers that want a file name (rasterio, pyarrow, PIL). The temporary file keeps the
    final suffix so format drivers that look at the extension still work.
    """
    path = Path(path)
    made = [] if path.parent.is_dir() else missing_folders(path.parent)
    for attempt in range(3):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
            break
        except FileNotFoundError:  # a failing writer beside this one removed the folder it had just made
            if attempt == 2:
                raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; the final file gets the mode a plain open() would give it.
        if tmp_path.exists():
            os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        remove_empty_folders(made)  # the folders this write created, if it leaves them empty
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                sync: bool = True) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; rename it onto ``path`` on success.

    ``sync=False``: the bytes are not flushed to disk before the rename; the caller makes them durable with
    :func:`sync_files` before anything that names the file is written.
    """
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            if sync:
                os.fsync(fh.fileno())


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_bytes(path: str | os.PathLike, data: bytes, sync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (``sync=False``: see :func:`atomic_open`)."""
    with atomic_open(path, "wb", sync=sync) as fh:
        fh.write(data)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (UTF-8, non-ASCII kept)."""
    write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def _libc_syncfs():
    """Linux ``syncfs(2)`` through ctypes, or ``None`` where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


_SYNCFS = _libc_syncfs()


def _fsync_path(path: Path) -> None:
    # Windows flushes only handles opened for writing, and cannot open a folder; POSIX fsyncs a read handle
    flags = os.O_RDWR | getattr(os, "O_BINARY", 0) if os.name == "nt" else os.O_RDONLY
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_files(paths: Iterable[str | os.PathLike]) -> None:
    """Make files written with ``sync=False`` (and their renames) durable, as one batch.

    Linux: one ``syncfs`` of each file system the files are on (``sync`` without ``syncfs``); elsewhere every
    file, then every folder they are in (POSIX), is ``fsync``'ed.
    """
    files = [Path(p) for p in paths]
    if not files:
        return
    folders = list(dict.fromkeys(p.parent for p in files))
    if sys.platform.startswith("linux"):
        sync_file_systems(folders)
    else:
        fsync_each(files, folders)


def sync_file_systems(folders: list[Path]) -> None:
    """Linux: ``syncfs`` once for each file system holding one of ``folders`` (``sync`` without it)."""
    if _SYNCFS is None:
        os.sync()
        return
    seen = set()
    for d in folders:
        dev = os.stat(d).st_dev
        if dev in seen:
            continue
        seen.add(dev)
        fd = os.open(d, os.O_RDONLY)
        try:
            if _SYNCFS(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"syncfs: {os.strerror(err)}", str(d))
        finally:
            os.close(fd)


def fsync_each(files: list[Path], folders: list[Path]) -> None:
    """``fsync`` every file, then every folder (not on Windows, where a folder cannot be opened)."""
    for p in files:
        _fsync_path(p)
    if os.name != "nt":
        for d in folders:
            _fsync_path(d)


# mkstemp's names: "." + stem + "." + 8 random characters + ".tmp" + the final suffix (see atomic_path)
_TEMP_NAME = re.compile(r"^\..*\.[A-Za-z0-9_]{8}\.tmp(\.[^./]*)?$")


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file name of :func:`atomic_path`."""
    return bool(_TEMP_NAME.match(name))


def remove_temporaries(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Delete the temporary files a killed run left under ``folder``; return them.

    Only call this while holding the folder's lock (:mod:`farmannot.io.lock`): a live run's temporary
    files look the same.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    found = root.rglob(".*") if recursive else root.glob(".*")
    gone = []
    for p in found:
        if is_temporary(p.name) and p.is_file() and not p.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                gone.append(p)
    return gone


def remove_temporaries_of(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed run left for the output file ``path`` (same folder)."""
    p = Path(path)
    if not p.parent.is_dir():
        return []
    gone = []
    for q in p.parent.glob(f".{glob.escape(p.stem)}.*.tmp{glob.escape(p.suffix)}"):
        if is_temporary(q.name) and q.is_file():
            with contextlib.suppress(FileNotFoundError):
                q.unlink()
                gone.append(q)
    return gone
