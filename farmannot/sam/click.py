"""A SAM prompt to polygons: the one path every click takes (the annotator's canvas, the scene grid's chips,
``propose --points``) and the one mask -> polygons step ``propose`` uses for automatic masks.

:func:`click_polygons` is the whole path: labelme-style points/box -> SAM's mask (:meth:`SamSession.predict`)
-> :func:`prompt_polygons`. :func:`prompt_polygons` is the mask's part, pure numpy:

1. a box prompt keeps the mask inside the box (the annotator drew it around one field);
2. ``valid`` (a chip's data pixels) and the fields already drawn are cut out of the mask, so a new field
   stops at its neighbours. The shapes drawn are painted in their order, as labelme and ``build-dataset``
   paint them: a field fills, a ``_background_`` shape after it (a hole: a farmstead, a pond) frees again.
   So a hole stays free for a new click, whether it was drawn as a later ``_background_`` shape or as the
   field's own hole;
3. only the 4-connected part(s) the prompt hits are kept: the parts under the include clicks (a click on
   no part takes the nearest part within :data:`SNAP_PX`), for a box without a click on a part its largest
   part. SAM's speckles elsewhere in the image never become shapes;
4. :func:`farmannot.labels.polygonize.mask_to_polygons` traces the kept parts with their holes (specks and
   pinholes up to ``min_area_px`` dropped) on pixel edges.

:func:`text_polygons` is the same mask -> polygons step for a text (concept) prompt's instances.

Polygons are pixel-edge :class:`~farmannot.labels.polygonize.Rings`; :func:`labelme_rings` gives the
vertices labelme shapes are written with (the labels package's conversion, called here only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from farmannot.labels.convention import to_labelme_rings
from farmannot.labels.polygonize import DEFAULT_SIMPLIFY_PX, Rings, mask_to_polygons, rings_to_mask
from farmannot.sam.prompts import Prompt, prompt_from_labelme

#: A click that lands on no part of the mask takes the nearest part this close (pixels): a click on a
#: field's border pixel, or one that SAM's upsampled mask misses by a pixel.
SNAP_PX = 3.0
#: Default minimum area of a part or hole (pixels): smaller ones are SAM's speckles and pinholes.
MIN_AREA_PX = 16.0


class Drawn(NamedTuple):
    """A shape already drawn, in the mask's pixel-edge coordinates: ``fills`` for a field, not for a
    ``_background_`` shape (which frees what fields before it fill)."""

    rings: Rings
    fills: bool = True


def box_pixels(box: np.ndarray, shape: tuple[int, int]) -> tuple[slice, slice]:
    """The rows and columns of pixels a box prompt ``(x0, y0, x1, y1)`` touches (both corner pixels included)."""
    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
    x1, y1 = int(np.ceil(box[2])) + 1, int(np.ceil(box[3])) + 1
    return slice(max(y0, 0), max(min(y1, shape[0]), 0)), slice(max(x0, 0), max(min(x1, shape[1]), 0))


def occupied_mask(existing: Sequence[Rings | Drawn], shape: tuple[int, int],
                  window: tuple[slice, slice] | None = None) -> np.ndarray:
    """Pixels the drawn shapes cover, painted in order (fields fill, ``_background_`` shapes free):
    :func:`farmannot.labels.polygonize.rings_to_mask`, the pixel-centre rule of the rings traced.

    ``window``: only these rows/columns (the result has the window's shape); default the whole ``shape``.
    """
    rows, cols = window or (slice(0, shape[0]), slice(0, shape[1]))
    h, w = rows.stop - rows.start, cols.stop - cols.start
    drawn = [item if isinstance(item, Drawn) else Drawn(item) for item in existing]
    drawn = [d for d in drawn if len(d.rings.exterior) >= 3]
    if not drawn or h <= 0 or w <= 0:
        return np.zeros((max(h, 0), max(w, 0)), bool)
    return rings_to_mask([d.rings for d in drawn], (h, w), fills=[d.fills for d in drawn],
                         origin=(rows.start, cols.start))


def _bbox(mask: np.ndarray) -> tuple[slice, slice] | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def clicked_parts(mask: np.ndarray, prompt: Prompt | None, snap_px: float = SNAP_PX,
                  min_area_px: float = 0.0) -> np.ndarray:
    """The 4-connected parts of ``mask`` the prompt hits (see the module docstring); ``None``: all parts.

    Parts of at most ``min_area_px`` pixels (speckles, dropped later anyway) are never the one chosen.
    """
    import cv2

    if prompt is None:
        return mask
    bb = _bbox(mask)
    if bb is None:
        return mask
    rows, cols = bb
    n, lab, stats, _ = cv2.connectedComponentsWithStats(np.ascontiguousarray(mask[rows, cols], dtype=np.uint8),
                                                        connectivity=4)
    if n <= 1:  # no part
        return mask
    area = stats[:, cv2.CC_STAT_AREA]
    small = area <= min_area_px
    small[0] = True
    lab = np.where(small[lab], 0, lab)  # speckles are background for the choice
    keep: set[int] = set()
    include = (prompt.point_coords[prompt.point_labels == 1] if prompt.point_coords is not None
               else np.zeros((0, 2)))
    for x, y in include:
        r, c = int(np.floor(y)) - rows.start, int(np.floor(x)) - cols.start
        if 0 <= r < lab.shape[0] and 0 <= c < lab.shape[1] and lab[r, c]:
            keep.add(int(lab[r, c]))
            continue
        rr, cc = np.nonzero(lab)  # the nearest part's pixel centre, if within snap_px
        if not len(rr):
            continue
        d2 = (cc + 0.5 - (x - cols.start)) ** 2 + (rr + 0.5 - (y - rows.start)) ** 2
        i = int(np.argmin(d2))
        if d2[i] <= snap_px ** 2:
            keep.add(int(lab[rr[i], cc[i]]))
    if not keep and prompt.box is not None and not small.all():  # a box (clicks missed): its largest part
        keep.add(int(np.argmax(np.where(small, -1, area))))
    out = np.zeros_like(mask, dtype=bool)
    if keep:
        kept = np.zeros(n, bool)
        kept[sorted(keep)] = True
        out[rows, cols] = kept[lab]
    return out


def prompt_polygons(mask: np.ndarray, prompt: Prompt | None = None, existing: Sequence[Rings | Drawn] = (),
                    valid: np.ndarray | None = None, simplify_px: float = DEFAULT_SIMPLIFY_PX,
                    min_area_px: float = MIN_AREA_PX) -> tuple[np.ndarray, list[Rings]]:
    """SAM's mask for ``prompt`` -> the field's polygons (see the module docstring for the steps).

    Args:
        mask: SAM's mask, 2-D bool, in the prompt's pixel frame.
        prompt: The prompt (:func:`farmannot.sam.prompts.prompt_from_labelme`); ``None`` (automatic masks):
            every part is kept.
        existing: Shapes already drawn, in order (:class:`Drawn`; a plain ``Rings`` is a field).
        valid: Pixels with data (a chip's valid mask); others are never part of a field.
        simplify_px, min_area_px: As :func:`farmannot.labels.polygonize.mask_to_polygons`.

    Returns:
        ``(mask kept, polygons)``: the pixels the polygons trace, and the polygons (pixel-edge rings).
    """
    mask = np.asarray(mask, dtype=bool)
    if prompt is not None and prompt.box is not None:
        rows, cols = box_pixels(prompt.box, mask.shape)
        inside = np.zeros_like(mask)
        inside[rows, cols] = mask[rows, cols]
        mask = inside
    if valid is not None:
        mask = mask & valid
    if existing:
        bb = _bbox(mask)
        if bb is not None:
            mask = mask.copy()
            mask[bb] &= ~occupied_mask(existing, mask.shape, bb)
    mask = clicked_parts(mask, prompt, min_area_px=min_area_px)
    return mask, mask_to_polygons(mask, simplify_px=simplify_px, min_area_px=min_area_px)


class Click(NamedTuple):
    """What :func:`click_polygons` made: the kept mask, SAM's score, the polygons."""

    mask: np.ndarray
    score: float
    polygons: list[Rings]


def click_polygons(session, emb, points, labels, existing: Sequence[Rings | Drawn] = (),
                   valid: np.ndarray | None = None, simplify_px: float = DEFAULT_SIMPLIFY_PX,
                   min_area_px: float = MIN_AREA_PX) -> Click:
    """labelme-style ``points``/``labels`` (1 include, 0 exclude, 2/3 box corners) on ``emb`` -> polygons.

    ``session``: a :class:`farmannot.sam.session.SamSession` (anything with its ``predict``).
    """
    raw, score = session.predict(emb, points, labels)
    mask, polygons = prompt_polygons(raw, prompt_from_labelme(points, labels), existing, valid, simplify_px,
                                     min_area_px)
    return Click(mask, float(score), polygons)


def text_polygons(session, emb, rgb: np.ndarray, text: str, existing: Sequence[Rings | Drawn] = (),
                  valid: np.ndarray | None = None, simplify_px: float = DEFAULT_SIMPLIFY_PX,
                  min_area_px: float = MIN_AREA_PX) -> list[Click]:
    """Every instance of a concept (``"farmland parcel"``) on ``rgb`` -> polygons, best score first.

    The model's ``text_masks`` (SAM 3, as ``propose --text``), then :func:`prompt_polygons` per instance with
    every part kept; each instance stops at the fields drawn (``existing``, as a click does) and at the
    instances kept before it, so no pixel is given to two drafts. Instances left empty are dropped.
    """
    shape = tuple(emb.original_size)
    taken = occupied_mask(existing, shape) if existing else np.zeros(shape, bool)
    out = []
    for m in session.backend.text_masks(rgb, emb, text):
        mask, polygons = prompt_polygons(np.asarray(m["segmentation"], bool) & ~taken, None, (), valid,
                                         simplify_px, min_area_px)
        if polygons:
            out.append(Click(mask, float(m["predicted_iou"]), polygons))
            taken |= mask
    return out


def labelme_rings(polygons: Sequence[Rings]) -> list[Rings]:
    """Pixel-edge polygons -> labelme vertices (labelme's rasteriser fills the traced pixels), holes in
    ``Rings.holes`` (written as ``_background_`` shapes after their field); degenerate parts left out."""
    return [r for rings in polygons for r in to_labelme_rings(rings) if len(r.exterior) >= 3]
