"""The wheel, not the editable install: built from the checkout, installed into a fresh venv, run as a user would.

An editable install hides two packaging faults: data files read from the source tree (caption templates) and
package names that only exist in the checkout. Here nothing from the checkout is importable: the venv is new,
the commands run from a temporary folder, and the test asserts the imported code lives in that venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build-src")
    # Build from a copy so the checkout gains no build/ or egg-info folders.
    src = build / "src"
    shutil.copytree(REPO, src, symlinks=True,
                    ignore=shutil.ignore_patterns(".venv", ".git", "out", "build", "*.egg-info", "__pycache__", "tests"))
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
                cwd=build)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (whl,) = out.glob("farmannot-*.whl")
    return whl


def test_wheel_ships_templates_and_the_plugin_under_its_own_name(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("keywords.yaml", "suggest.yaml", "spie.yaml", "captions/farmseg.en.j2", "captions/terraced.zh.j2"):
        assert f"farmannot/templates/{template}" in names
    assert "farmannot_labelme/window.py" in names
    # No generic top-level package that would shadow or be shadowed by another project's `plugins`.
    assert not any(n.startswith(("plugins/", "templates/", "tests/")) for n in names)


def test_wheel_in_a_fresh_venv_captions_and_prompts(wheel, tmp_path):
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    assert _run([base, "-m", "venv", str(venv)], cwd=tmp_path).returncode == 0
    pip = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=tmp_path, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    py = venv / "bin" / "python"
    where = _run([str(py), "-c", "import farmannot.resources as r; print(r.templates_dir())"], cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv)

    project = tmp_path / "project"
    (project / "annotations").mkdir(parents=True)
    (project / "scenes").mkdir()
    shutil.copy(SAMPLE / "annotations" / "rmnp-rgb.json", project / "annotations")
    shutil.copy(SAMPLE / "scenes" / "rmnp-rgb.tif", project / "scenes")
    cap = _run([str(venv / "bin" / "farmannot"), "caption", str(project), "--json", "--lang", "both",
                "--date", "2020-07-01"], cwd=tmp_path)
    assert cap.returncode == 0, cap.stderr
    record = json.loads(cap.stdout.splitlines()[0])
    assert record["missing"] == []
    assert record["text"]["en"].startswith("This remote sensing image was taken in July (summer).")
    assert "7月" in record["text"]["zh"] or "七月" in record["text"]["zh"]

    prompts = _run([str(venv / "bin" / "farmannot"), "prompts", str(SAMPLE / "scenes" / "rgbn-cul-de-sac-suba.tif"),
                    "--format", "json", "--category", "vegetation"], cwd=tmp_path)
    assert prompts.returncode == 0, prompts.stderr
    rec = json.loads(prompts.stdout.splitlines()[0])
    assert rec["category"] == "vegetation" and rec["regions"]
