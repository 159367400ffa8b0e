"""The benches' child memory figure is the child's own peak, not the parent's carried across fork + exec."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "bench"

CHILD = """
import json, resource
from peak_memory import peak_mib
print(json.dumps({"vmhwm": peak_mib(), "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def test_child_peak_is_its_own_not_the_parents():
    ballast = np.ones(300 * 2**20, dtype=np.uint8)  # the parent holds 300 MiB while it starts the child
    parent_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(BENCH), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    del ballast
    import json

    d = json.loads(out.stdout)
    # a bare interpreter that imports numpy stays far below the parent's 300 MiB ballast
    assert parent_peak > 300
    assert d["vmhwm"] < 100, d
    # the figure the benches used to print carries the parent's peak (Linux keeps it across exec);
    # this is what made every scene size read the same in the old tables
    assert d["ru_maxrss"] > d["vmhwm"] + 200, d
