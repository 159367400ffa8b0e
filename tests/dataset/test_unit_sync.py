"""Tile durability per work unit (files synced once, before the record that names them) and resume checks run
on the workers (the building process hashes neither the annotations nor the recorded files)."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest
from projectgen import make_project, tree

from farmannot.dataset import records
from farmannot.dataset.build import build_dataset
from farmannot.dataset.config import load_config
from farmannot.dataset.layouts import write_checked
from farmannot.io import atomic

UNITS = {"tile_size": 16, "card": False}  # 64 px scenes in 16 px tiles: 4 work units a scene
TILE_NAME = re.compile(r"^[a-z]\d+_\d+_\d+[._]")  # a tile's files: SCENE_ROW_COL.png, ..._vegetation.png


def tile_files(out: Path) -> set[str]:
    """Every file of a tile on disk, found by its name (the layouts' own lists and records not consulted)."""
    return {p.relative_to(out).as_posix() for p in out.rglob("*")
            if p.is_file() and TILE_NAME.match(p.name) and not p.relative_to(out).as_posix().startswith(".")}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("sync")
    project = make_project(root / "project")
    out = root / "one"
    build_dataset(project, out, load_config(None, UNITS), progress=False)
    return project, out, tree(out)


def test_tile_writes_are_not_fsynced_one_by_one_but_other_writes_are(tmp_path, monkeypatch):
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_ino), real(fd))[1])
    digest, written = write_checked(tmp_path, "a/t.png", b"tile")
    assert written and (tmp_path / "a" / "t.png").read_bytes() == b"tile" and synced == []
    assert oct((tmp_path / "a" / "t.png").stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    atomic.write_json(tmp_path / "a" / "r.json", {"k": 1})
    assert synced == [(tmp_path / "a" / "r.json").stat().st_ino]
    assert not any(atomic.is_temporary(p.name) for p in (tmp_path / "a").iterdir())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_sync_files_fsyncs_every_file_and_folder_where_syncfs_is_missing(tmp_path, monkeypatch):
    files = [tmp_path / "x" / "a.png", tmp_path / "x" / "b.png", tmp_path / "y" / "c.png"]
    for p in files:
        write_checked(tmp_path, p.relative_to(tmp_path).as_posix(), p.name.encode())
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_ino), real(fd))[1])
    monkeypatch.setattr(atomic.sys, "platform", "darwin")   # the portable path (macOS, BSD; Windows less folders)
    atomic.sync_files(files)
    expected = [p.stat().st_ino for p in files] + [(tmp_path / d).stat().st_ino for d in ("x", "y")]
    assert synced == expected
    if hasattr(os, "sync"):                                 # Linux without syncfs in its C library: sync(2)
        calls = []
        monkeypatch.setattr(atomic.sys, "platform", "linux")
        monkeypatch.setattr(atomic, "_SYNCFS", None)
        monkeypatch.setattr(atomic.os, "sync", lambda: calls.append(1))
        atomic.sync_files(files)
        atomic.sync_files([])                               # nothing written: nothing to sync
        assert calls == [1]


@pytest.mark.skipif(atomic._SYNCFS is None, reason="needs Linux syncfs")
def test_sync_files_on_linux_is_one_syncfs_per_file_system(tmp_path, monkeypatch):
    files = [tmp_path / f"{i}.png" for i in range(5)]
    for p in files:
        p.write_bytes(b"x")
    fds: list[int] = []
    real = atomic._SYNCFS
    monkeypatch.setattr(atomic, "_SYNCFS", lambda fd: (fds.append(os.fstat(fd).st_dev), real(fd))[1])
    atomic.sync_files(files)
    assert fds == [tmp_path.stat().st_dev]


@pytest.mark.slow
def test_a_units_files_are_synced_before_its_record(built, tmp_path, monkeypatch):
    """Every record (unit or scene) is written after a sync of every tile file it names, while the files exist;
    the tile files on disk are exactly those synced."""
    project, _, ref = built
    out = tmp_path / "out"
    synced: set[str] = set()
    events: list[str] = []
    real_sync, real_json = atomic.sync_files, records.write_json

    def sync(paths):
        paths = [Path(p) for p in paths]
        assert all(p.is_file() for p in paths)
        synced.update(p.relative_to(out).as_posix() for p in paths)
        events.append(f"sync {len(paths)}")
        real_sync(paths)

    def write_json(path, obj, **kw):
        named = {rel for row in obj["rows"] for rel in json.loads(row["checksums"])}
        assert named <= synced, f"{path} names files not synced yet: {sorted(named - synced)[:3]}"
        events.append(Path(path).relative_to(out / ".farmannot").as_posix())
        real_json(path, obj, **kw)

    monkeypatch.setattr(records, "sync_files", sync)
    monkeypatch.setattr(records, "write_json", write_json)
    build_dataset(project, out, load_config(None, UNITS), progress=False)
    assert tree(out) == ref
    assert len(synced) > 100 and synced == tile_files(out)
    unit_records = [e for e in events if e.startswith("units/")]
    assert len(unit_records) == 5 * 4 and len([e for e in events if e.startswith("scenes/")]) == 5
    for i, e in enumerate(events):                           # one sync right before each unit record
        if e.startswith("units/"):
            assert events[i - 1].startswith("sync ")


def _parent_only(parent: int, calls: list[str], name: str, real):
    """``real``, recording the calls made in the building process's main thread (and failing them)."""
    def fn(*a, **k):
        if os.getpid() == parent and threading.current_thread() is threading.main_thread():
            calls.append(name)
            raise AssertionError(f"{name} called by the building process")
        return real(*a, **k)
    return fn


@pytest.mark.slow
def test_resume_checks_run_in_the_workers_pool_and_dask(built, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    project, _, ref = built
    out = tmp_path / "out"
    cfg = load_config(None, {**UNITS, "workers": 2})
    build_dataset(project, out, cfg, progress=False)
    calls: list[str] = []
    in_workers: list[str] = []
    real_fp, real_sha = records.fingerprint, records.file_sha256

    def seen(name, real):
        def fn(*a, **k):
            in_workers.append(threading.current_thread().name)
            return real(*a, **k)
        return _parent_only(os.getpid(), calls, name, fn)

    monkeypatch.setattr(records, "fingerprint", seen("fingerprint", real_fp))
    monkeypatch.setattr(records, "file_sha256", seen("file_sha256", real_sha))
    again = build_dataset(project, out, cfg, progress=False)
    assert calls == [] and again.resumed_scenes == 5 and again.written == 0
    victim = out / "gtpbd-mm" / "train" / "north" / "mask_labels" / "a2_0_0.tif"
    victim.write_bytes(b"garbage")                          # a stale record: its scene is built again
    third = build_dataset(project, out, cfg, progress=False)
    assert calls == [] and third.resumed_scenes == 4 and third.written == 1
    assert tree(out) == ref

    in_workers.clear()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        dcfg = load_config(None, {**UNITS, "dask_scheduler": cluster.scheduler_address})
        victim.write_bytes(b"garbage")
        s = build_dataset(project, out, dcfg, progress=False)
    assert calls == [] and s.resumed_scenes == 4 and s.written == 1
    assert len(in_workers) > 5 and threading.main_thread().name not in in_workers   # hashed on Dask's threads
    assert tree(out) == ref
