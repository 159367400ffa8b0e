"""The edge-metric protocols by name: importable without scipy or scikit-image, so the CLI lists them as
choices without loading the metrics."""

from __future__ import annotations

from typing import Literal

#: ``gtpbd``: the GTPBD script's boundary F-scores; ``bsds``: the BSDS benchmark's threshold sweep.
Protocol = Literal["gtpbd", "bsds"]
