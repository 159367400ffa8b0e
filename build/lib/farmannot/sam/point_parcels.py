"""One parcel per survey point: SAM prompted with the point on the native-resolution chip that holds it.

For each point (scene pixel-edge coordinates) :meth:`LargeScene.segment` picks the chip, reuses or computes
its embedding (the session's cache) and returns SAM's mask as polygons. Of those, the part that contains
the point is the parcel; a mask that misses its own point is no answer. Points are visited chip by chip,
so each chip is embedded once. With ``keep_apart`` a parcel stops at the parcels found before it, and a
point that falls inside an earlier parcel (two visits to one field) gets no parcel of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely

from farmannot.labels.polygonize import DEFAULT_SIMPLIFY_PX, Rings
from farmannot.sam.scene_views import LargeScene


@dataclass
class PointParcel:
    """SAM's answer for one point: ``parcel`` (edge coordinates, scene px) or why there is none."""

    index: int
    parcel: Rings | None
    score: float = 0.0
    status: str = "ok"  # ok | inside parcel of point N | mask misses the point
    from_cache: bool = False


def segment_points(scene: LargeScene, session, xy: np.ndarray, keep_apart: bool = True,
                   simplify_px: float = DEFAULT_SIMPLIFY_PX, min_area_px: float = 16.0,
                   on_point: Callable[[], None] | None = None) -> list[PointParcel]:
    """The parcel under each point, in the points' order.

    Args:
        scene: The scene as chips (:class:`farmannot.sam.scene_views.LargeScene`).
        session: A :class:`farmannot.sam.session.SamSession`.
        xy: ``(N, 2)`` points in scene pixel-edge coordinates (x = column).
        keep_apart: Cut each parcel back at the parcels found before it; skip points inside one.
        on_point: Called after each point (progress).
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    chips = [scene.chip_for(p[None]) for p in xy]
    order = sorted(range(len(xy)), key=lambda i: (int(chips[i].window.row_off), int(chips[i].window.col_off),
                                                  int(chips[i].size), i))
    found: dict[int, PointParcel] = {}
    kept: list[tuple[int, Rings]] = []
    for i in order:
        pt = shapely.Point(xy[i])
        owner = next((j for j, r in kept if r.to_shapely().covers(pt)), None) if keep_apart else None
        if owner is not None:
            found[i] = PointParcel(i, None, status=f"inside parcel of point {owner}")
        else:
            res = scene.segment(session, xy[i][None], [1], [r for _, r in kept] if keep_apart else (),
                                simplify_px=simplify_px, min_area_px=min_area_px)
            part = next((r for r in res.polygons if r.to_shapely().covers(pt)), None)
            if part is None:
                found[i] = PointParcel(i, None, res.score, "mask misses the point", res.hit)
            else:
                found[i] = PointParcel(i, part, res.score, "ok", res.hit)
                kept.append((i, part))
        if on_point is not None:
            on_point()
    return [found[i] for i in range(len(xy))]
