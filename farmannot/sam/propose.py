"""Whole-scene SAM proposals: automatic masks per native-resolution chip, merged across seams, filtered.

Per chip (:func:`farmannot.sam.chips.chip_grid`): the chip's RGB picture with the *scene-wide* stretch,
its embedding from the session's cache (keyed by chip content, scene, window, bands, stretch and model),
the model family's automatic mask generator on it (segment-anything's or sam2's), masks -> polygons in scene pixels. Then the
proposals of all chips are merged across seams (:mod:`farmannot.sam.seams`) and filtered by area, by a
vegetation index (NDVI with NIR, excess-green without) and by shape; what is left becomes labelme shapes
labelled ``farmland`` and flagged ``proposal`` with their score, for a person to accept or delete.

With a text prompt, each chip may also get example boxes (:mod:`farmannot.sam.exemplars`): around the survey
points it holds (``points_xy``) and around the regions of a spectral category on it (``spectral_boxes``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import shapely
from shapely.affinity import translate

from farmannot.captions.measures import green_leaf_index
from farmannot.io.raster import check_scene_pixels, open_raster, read_bands, scene_info
from farmannot.sam.chip_embed import chip_display, chip_for_sam
from farmannot.sam.chips import CHIP_OVERLAP, CHIP_SIZE, chip_grid
from farmannot.sam.click import prompt_polygons
from farmannot.sam.exemplars import NO_BOXES, POINT_BOX_PX, point_boxes, spectral_boxes
from farmannot.sam.seams import Proposal, merge_proposals, touches_inner_edge
from farmannot.sam.session import SamSession
from farmannot.spectral.indices import CATEGORIES, ndvi
from farmannot.terrain.derive import pixel_area_m2

log = logging.getLogger(__name__)

VegFilter = Literal["ndvi", "greenness", "none"]

#: Prompts decoded at once on a CPU. Each prompt's three masks are upsampled to the chip size (64 prompts:
#: 192 float masks of 1024 x 1024: a batch's peak is 1.8 GiB with 64 prompts, 0.46 GiB with 16; time per chip
#: stayed within the load's noise (``bench/bench_sam.py --propose --batch-memory``, docs/BENCHMARKS.md).
CPU_POINTS_PER_BATCH = 16


@dataclass
class ProposeOptions:
    chip: int = CHIP_SIZE
    overlap: int = CHIP_OVERLAP
    points_per_side: int = 32
    points_per_batch: int | None = None  # None: CPU_POINTS_PER_BATCH on a CPU, segment-anything's 64 on a GPU
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    min_area_m2: float = 0.0
    max_area_fraction: float = 0.5      # masks covering more of a chip are background, not a field
    veg_filter: VegFilter = "ndvi"
    ndvi_min: float = 0.2
    greenness_min: float = 0.02
    min_compactness: float = 0.05       # 4 pi A / P^2; slivers along roads and rivers score lower
    simplify_px: float = 1.5
    text: str | None = None             # a concept prompt ("farmland parcel"): needs a model with text_masks
    spectral_boxes: str | None = None   # with text: a spectral category's regions per chip as example boxes
    point_box_px: float = POINT_BOX_PX  # with text and points: side of the example box around each point


@dataclass
class ProposeResult:
    proposals: list[Proposal]
    chips: int
    cache_hits: int
    raw_masks: int
    dropped: dict[str, int] = field(default_factory=dict)
    filter_used: str = "none"
    example_boxes: int = 0              # example boxes given with the text prompt, all chips together


def _veg_index(bands: dict[str, np.ndarray], kind: VegFilter) -> tuple[np.ndarray | None, str]:
    """The vegetation index the filter uses: NDVI with NIR, else the RGB green leaf index (as captions use)."""
    if kind == "none":
        return None, "none"
    if kind == "ndvi" and "nir" in bands and "red" in bands:
        return ndvi(bands["nir"], bands["red"]), "ndvi"
    if all(k in bands for k in ("red", "green", "blue")):
        return green_leaf_index(bands["red"], bands["green"], bands["blue"]), "greenness"
    return None, "none"


def check_text_support(session: SamSession) -> None:
    """Raise one clear line when ``session``'s model cannot take a text (concept) prompt."""
    if not hasattr(session.backend, "text_masks"):
        from farmannot.errors import InputError
        from farmannot.sam.registry import SAM3_STATUS

        name = session.model_id.split(":")[0]
        raise InputError(f"--text needs a model that takes concept prompts (SAM 3); {name} takes points and boxes "
                         f"only. {SAM3_STATUS}.")


def check_spectral_bands(info, category: str) -> None:
    """Raise one clear line when the scene's band map lacks the bands of ``category``'s index."""
    from farmannot.errors import InputError
    from farmannot.spectral.scene import available_categories

    _, skipped = available_categories(info, [category])
    if skipped:
        raise InputError(f"{info.path}: --spectral-boxes {category}: {skipped[category]}; give --sensor or --bands, "
                         f"or another category.")


def _example_boxes(src, info, win, opts: ProposeOptions, points_xy: np.ndarray | None) -> np.ndarray:
    """The chip's example boxes for the text prompt: around the survey points, then the spectral regions."""
    parts = []
    if points_xy is not None:
        parts.append(point_boxes(points_xy, (int(win.col_off), int(win.row_off), int(win.width), int(win.height)),
                                 opts.point_box_px))
    if opts.spectral_boxes:
        bands, valid = read_bands(src, info, list(CATEGORIES[opts.spectral_boxes].bands), window=win)
        parts.append(spectral_boxes(bands, valid, opts.spectral_boxes))
    return np.concatenate(parts) if parts else NO_BOXES


def _automatic_masks(session: SamSession, rgb: np.ndarray, key: str, parts: dict, opts: ProposeOptions,
                     boxes: np.ndarray = NO_BOXES):
    """The model family's automatic mask generator on ``rgb`` (or its answer to ``opts.text``, with the example
    ``boxes`` when there are any), the embedding from the session cache; masks as dicts with ``segmentation``
    and ``predicted_iou``."""
    batch = opts.points_per_batch or (CPU_POINTS_PER_BATCH if session.device.type == "cpu" else 64)
    emb, hit = session.embed(rgb, key=key, parts=parts)
    if opts.text:
        examples = {"boxes": boxes} if len(boxes) else {}  # a chip without examples: the text alone
        return session.backend.text_masks(rgb, emb, opts.text, **examples), hit
    masks = session.backend.automatic_masks(rgb, emb, points_per_side=opts.points_per_side, points_per_batch=batch,
                                            pred_iou_thresh=opts.pred_iou_thresh,
                                            stability_score_thresh=opts.stability_score_thresh)
    return masks, hit


def propose_scene(scene: str | os.PathLike, session: SamSession, opts: ProposeOptions | None = None,
                  sensor: str | None = None, bands: dict[str, int] | None = None,
                  on_chip: Callable[[], None] | None = None, points_xy: np.ndarray | None = None) -> ProposeResult:
    """SAM proposals over the whole scene at native resolution (see the module docstring).

    ``points_xy``: survey points (scene pixel edges, ``(N, 2)``) whose boxes go with ``opts.text`` on the chips
    that hold them (a point in a seam's overlap on both chips).
    """
    opts = opts or ProposeOptions()
    if (points_xy is not None or opts.spectral_boxes) and not opts.text:
        raise ValueError("example boxes (survey points, spectral regions) go with a text prompt")
    if opts.text:
        check_text_support(session)
    with open_raster(scene) as src:
        check_scene_pixels(scene, src.width, src.height, "propose")
        info = scene_info(src, sensor=sensor, bands=bands)
        if opts.spectral_boxes:
            check_spectral_bands(info, opts.spectral_boxes)
        display = chip_display(src, info.band_map)
        px_area = pixel_area_m2(src.crs, src.transform, src.height) if src.crs else 1.0  # m2 for degrees too
        veg_names = [n for n in ("red", "green", "blue", "nir") if n in info.band_map]
        grid = chip_grid(src.width, src.height, opts.chip, opts.overlap)
        proposals: list[Proposal] = []
        veg_means: list[float] = []
        hits = raw = n_boxes = 0
        dropped = {"area": 0, "vegetation": 0, "shape": 0, "too_large": 0}
        used = "none"
        for k, win in enumerate(grid):
            chip = chip_for_sam(session, src, display, win)
            rgb, valid = chip.rgb, chip.valid
            boxes = _example_boxes(src, info, win, opts, points_xy)
            n_boxes += len(boxes)
            masks, hit = _automatic_masks(session, rgb, chip.key, chip.parts, opts, boxes)
            hits += int(hit)
            raw += len(masks)
            vb = {n: src.read(info.band_map[n], window=win, out_dtype="float32") for n in veg_names}
            veg, used = _veg_index(vb, opts.veg_filter)
            for m in masks:
                seg = m["segmentation"] & valid
                if seg.sum() > opts.max_area_fraction * seg.size:
                    dropped["too_large"] += 1
                    continue
                vmean = float(np.nanmean(veg[seg])) if veg is not None and seg.any() else math.nan
                _, polygons = prompt_polygons(seg, None, simplify_px=opts.simplify_px, min_area_px=4.0)  # all parts
                for rings in polygons:
                    geom = translate(rings.to_shapely(), float(win.col_off), float(win.row_off))
                    cut = touches_inner_edge(geom, (int(win.col_off), int(win.row_off), int(win.width),
                                                    int(win.height)), src.width, src.height)
                    proposals.append(Proposal(geom, float(m["predicted_iou"]), k, cut))
                    veg_means.append(vmean)
            if on_chip:
                on_chip()
    merged = merge_proposals(proposals, windows=[(int(w.col_off), int(w.row_off), int(w.width), int(w.height))
                                                 for w in grid])
    out = []
    for p in merged:
        area_m2 = p.geometry.area * px_area
        if area_m2 < opts.min_area_m2:
            dropped["area"] += 1
            continue
        v = np.array([veg_means[i] for i in p.sources])
        w = np.array([proposals[i].geometry.area for i in p.sources])
        ok = np.isfinite(v)
        vmean = float(np.average(v[ok], weights=w[ok])) if ok.any() else math.nan
        if used == "ndvi" and not vmean >= opts.ndvi_min or used == "greenness" and not vmean >= opts.greenness_min:
            dropped["vegetation"] += 1
            continue
        compact = 4 * math.pi * p.geometry.area / max(p.geometry.length, 1e-9) ** 2
        if compact < opts.min_compactness:
            dropped["shape"] += 1
            continue
        p.geometry = shapely.make_valid(p.geometry.simplify(opts.simplify_px, preserve_topology=True))
        out.append(p)
    return ProposeResult(out, len(grid), hits, raw, dropped, used, n_boxes)
