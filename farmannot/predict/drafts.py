"""Draft annotations: proposals and predictions written as labelme files for a person to correct.

Every shape is labelled ``farmland`` (a setting), flagged ``proposal`` and carries its score in the
description, so ``farmannot annotate`` can show drafts apart and accepting one clears the flag. Holes are
later ``_background_`` shapes and multi-part fields share a ``group_id``, as on vector import.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from shapely.geometry.base import BaseGeometry

from farmannot import __version__
from farmannot.errors import InputError
from farmannot.io.labelme_json import Annotation, Shape, save_annotation
from farmannot.io.raster import open_raster
from farmannot.labels.convention import edges_to_labelme
from farmannot.vectors.geometry import polygon_to_shapes

PROPOSAL_FLAG = "proposal"


def refuse_existing(output: str | os.PathLike, overwrite: bool, option: str) -> None:
    """Refuse, before any work, to replace a draft annotation a person may have corrected in labelme since.

    Raises:
        InputError: ``output`` exists and ``overwrite`` is not set (one line naming it and what to do).
    """
    if not overwrite and Path(output).exists():
        raise InputError(f"{output}: exists, and shapes corrected in labelme there would be lost; pass --overwrite "
                         f"to replace it, or choose another {option}.")


def draft_shapes(drafts: Sequence[tuple[BaseGeometry, float]], *, method: str, label: str = "farmland",
                 labels: Sequence[str] | None = None, attributes: Sequence[dict] | None = None,
                 source_ids: Sequence[str] | None = None, first_group_id: int = 1) -> list[Shape]:
    """The labelme shapes of drafts (see :func:`draft_annotation`): flagged, scored, in labelme's vertices.

    ``first_group_id``: the group id the first multi-part draft gets (above those of shapes already there).
    """
    shapes: list[Shape] = []
    next_group = first_group_id
    for k, (geom, score) in enumerate(drafts, start=1):
        # masks are traced on pixel edges; labelme's rasteriser wants its own vertex convention
        extra = dict(attributes[k - 1]) if attributes is not None else {}
        parts = polygon_to_shapes(edges_to_labelme(geom), labels[k - 1] if labels is not None else label,
                                  group_id=next_group, min_area_px=0.0,
                                  source_id=source_ids[k - 1] if source_ids is not None else f"{method}-{k}",
                                  attributes={"score": round(float(score), 4), **extra})
        if any(s.group_id is not None for s in parts):
            next_group += 1
        for s in parts:
            s.flags = {PROPOSAL_FLAG: True}
        shapes.extend(parts)
    return shapes


def draft_annotation(scene: str | os.PathLike, output: str | os.PathLike,
                     drafts: Sequence[tuple[BaseGeometry, float]], *, method: str, label: str = "farmland",
                     inputs: dict | None = None, labels: Sequence[str] | None = None,
                     attributes: Sequence[dict] | None = None, source_ids: Sequence[str] | None = None
                     ) -> Annotation:
    """Write ``output`` (labelme JSON) with one draft parcel per ``(geometry in scene px, score)``.

    Args:
        drafts: Geometries in pixel-edge coordinates (pixel ``(r, c)`` covers ``[c, c+1] x [r, r+1]``), as
            traced from masks; they are converted to labelme's vertex convention
            (:mod:`farmannot.labels.convention`) so the label raster gets back the same pixels.
        scene: The raster the drafts were made on; ``imagePath`` points at it relative to ``output``.
        method: What made the drafts (``sam-proposals``, ``model-prediction``), kept in provenance.
        inputs: Extra provenance (checkpoint, options).
        labels, attributes, source_ids: Per draft, instead of ``label`` for all, no attributes and
            ``{method}-{k}`` (survey points give each parcel their own).
    """
    output = Path(output)
    with open_raster(scene) as src:
        width, height = src.width, src.height
        crs = src.crs.to_string() if src.crs else None
        transform = list(src.transform)[:6]
    shapes = draft_shapes(drafts, method=method, label=label, labels=labels, attributes=attributes,
                          source_ids=source_ids)
    # the scene as given, not where a link to it leads: a link placed in the project keeps imagePath inside
    rel = os.path.relpath(os.path.abspath(scene), os.path.abspath(output.parent))
    ann = Annotation(
        shapes=shapes, image_path=Path(rel).as_posix(), image_height=height, image_width=width,
        farmannot={
            "schema": 1,
            "scene": {"path": Path(rel).as_posix(), "crs": crs, "transform": transform,
                      "width": width, "height": height},
            "provenance": {"farmannot_version": __version__, "method": method, "inputs": inputs or {}},
        },
    )
    save_annotation(ann, output)
    return ann
