"""SPIE prompt text and records from an index map: Otsu -> regions -> instruction.

Two output formats:

* ``spex``: the region list as the released SPEX demo prompts write it, a Python-literal list of dicts with
  keys ``'Size of area', 'Centroid', 'Location', 'Bounding box'`` in that order, coordinates normalised and
  rounded to 3 decimals, straight after the colon (no space). ``ast.literal_eval`` parses it.
* ``json``: full-precision normalised values plus pixel values, in an ordinary JSON list; the instruction
  uses the paper's template (a space after the colon) with the list as compact JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from farmannot.resources import load_template_yaml
from farmannot.spectral.indices import CATEGORIES
from farmannot.spectral.otsu import otsu_mask
from farmannot.spectral.regions import BBoxMode, Region, region_attributes

PromptFormat = Literal["spex", "json"]


def _r3(v: float) -> float:
    # + 0.0 so -0.0 prints as 0.0, as the demo shows.
    return round(float(v), 3) + 0.0


def region_to_spex(region: Region) -> dict[str, Any]:
    """One region as the demo's dict (keys in the demo's order, 3 decimals)."""
    cx, cy = region.centroid
    return {
        "Size of area": region.size,
        "Centroid": [_r3(cx), _r3(cy)],
        "Location": region.location,
        "Bounding box": [[_r3(x), _r3(y)] for x, y in region.bbox],
    }


def region_to_json(region: Region) -> dict[str, Any]:
    """One region with full-precision normalised values and the pixel values they came from."""
    cx, cy = region.centroid
    return {
        "size": region.size,
        "share": region.share,
        "area_px": region.area,
        "centroid": [cx, cy],
        "centroid_px": list(region.centroid_px),
        "location": region.location,
        "bbox": [[x, y] for x, y in region.bbox],
        "bbox_px": [[x, y] for x, y in region.bbox_px],
    }


def spectral_prompt_text(regions: list[Region], fmt: PromptFormat = "spex",
                         spex: list[dict[str, Any]] | None = None) -> str:
    """The region list as text in format ``fmt`` (``spex``: the demo dicts, if already built)."""
    if spex is None:
        spex = [region_to_spex(r) for r in regions]
    if fmt == "spex":
        return repr(spex)
    return json.dumps(spex, ensure_ascii=False)


def instruction_text(category: str, regions: list[Region], fmt: PromptFormat = "spex",
                     spex: list[dict[str, Any]] | None = None) -> str:
    """The SPIE instruction for ``category`` with its region list."""
    tpl = load_template_yaml("spie.yaml")
    key = "instruction_spex" if fmt == "spex" else "instruction"
    return tpl[key].format(category=category, spectral_prompt=spectral_prompt_text(regions, fmt, spex))


@dataclass
class CategoryPrompt:
    """The result for one category on one tile."""

    category: str
    index: str
    threshold: float | None
    valid_pixels: int
    regions: list[Region]
    instruction: str
    mask: np.ndarray
    note: str = ""

    spex: list[dict[str, Any]] | None = None

    def record(self, fmt: PromptFormat = "spex") -> dict[str, Any]:
        if fmt == "spex":
            regions = self.spex if self.spex is not None else [region_to_spex(r) for r in self.regions]
        else:
            regions = [region_to_json(r) for r in self.regions]
        out: dict[str, Any] = {
            "category": self.category,
            "index": self.index,
            "threshold": None if self.threshold is None else float(self.threshold),
            "regions": regions,
            "instruction": self.instruction,
        }
        if fmt == "json":
            out["valid_pixels"] = self.valid_pixels
        if self.note:
            out["note"] = self.note
        return out


def category_prompt(category: str, index_map: np.ndarray, bbox: BBoxMode = "axis",
                    fmt: PromptFormat = "spex", max_regions: int = 10) -> CategoryPrompt:
    """Otsu on ``index_map`` (NaN = invalid), regions of the pixels above it, and the instruction."""
    spec = CATEGORIES[category]
    valid_pixels = int(np.count_nonzero(np.isfinite(index_map)))
    mask, t = otsu_mask(index_map)
    note = ""
    if valid_pixels == 0:
        note = "no valid pixels (all nodata): no regions"
    elif not mask.any():
        note = "constant index map: Otsu finds nothing above the threshold, no regions"
    regions = region_attributes(mask, max_regions=max_regions, bbox=bbox)
    spex = [region_to_spex(r) for r in regions]
    return CategoryPrompt(category, spec.index, t, valid_pixels, regions,
                          instruction_text(category, regions, fmt, spex), mask, note, spex)
