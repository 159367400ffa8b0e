"""The window's caption side: keywords restored on load, suggestions from the scene, the saved block.

A mixin of :class:`farmannot_labelme.window.FarmannotMainWindow` (it uses the window's state: the open image,
its picture, the caption dock, the options); all caption logic is in :mod:`farmannot.captions`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from farmannot.errors import FarmannotError


class CaptionMixin:
    """Captions of the open image: initial keywords, suggestions (with the scene's DEM), the farmannot block."""

    def _fa_initial_keywords(self, path: str) -> dict:
        from farmannot.captions.annotation import merge_keywords
        from farmannot.captions.autofill import scene_autofill
        from farmannot.captions.schema import Keyword

        block = ((self._other_data or {}).get("farmannot") or {})
        stored: dict = {}
        for key, raw in ((block.get("caption") or {}).get("keywords") or {}).items():
            try:
                stored[key] = Keyword.from_dict(raw, f"keyword {key!r}")
            except FarmannotError as exc:
                self.show_farmannot_error("Caption keyword not understood", f"{path}: {exc}")
        auto = {}
        if Path(path).is_file():
            try:
                auto = scene_autofill(path, date_override=(block.get("scene") or {}).get("date"))
            except (FarmannotError, OSError, ValueError) as exc:
                self.show_status_message(f"No month/location from {Path(path).name}: {exc}", 8000)
        return merge_keywords(stored, auto=auto)

    def _fa_shape_dicts(self) -> list[dict]:
        from farmannot.io.labelme_json import encode_mask

        out = []
        for item in self._docks.label_list:
            s = item.shape()
            if s is None or not s.label:
                continue
            d = dict(s.other_data)
            d.update(label=s.label, points=[[p.x(), p.y()] for p in s.points], group_id=s.group_id,
                     description=s.description or "", shape_type=s.shape_type, flags=s.flags or {},
                     mask=None if s.mask is None else encode_mask(s.mask))
            out.append(d)
        return out

    def farmannot_dem(self, image: str) -> str | None:
        """The DEM of the terrain suggestions: ``--dem``, else the project scene's DEM (as build-dataset finds
        it), else none."""
        if self._fa.dem:
            return self._fa.dem
        project = self._fa_home.project_of(image)
        if project is None:
            return None
        from farmannot.dataset.project import scene_dem

        found = scene_dem(project, image)
        return str(found) if found else None

    def _fa_suggest(self, keywords: dict) -> dict | None:
        """Suggestions from the image and the shapes drawn so far, merged under the annotator's choices."""
        from farmannot.captions.annotation import caption_annotation
        from farmannot.io.labelme_json import annotation_from_dict, save_annotation

        if not self._image_path or not Path(self._image_path).is_file():
            self.show_farmannot_error("Cannot suggest", "Open an image file first.")
            return None
        raw = {"shapes": self._fa_shape_dicts(), "imagePath": Path(self._image_path).name, "imageHeight": self._image.height(),
               "imageWidth": self._image.width(),
               "farmannot": {"caption": {"keywords": {k: v.to_dict() for k, v in keywords.items()}}}}
        try:
            with tempfile.TemporaryDirectory(prefix="farmannot-suggest-") as tmp:
                json_path = Path(tmp) / "current.json"
                save_annotation(annotation_from_dict(raw, source="current annotation"), json_path)
                _, result = caption_annotation(json_path, scene=self._image_path, suggest=True,
                                               dem=self.farmannot_dem(self._image_path),
                                               farmland_labels=self._fa.farmland_labels, sensor=self._fa.sensor)
        except FarmannotError as exc:
            self.show_farmannot_error("Cannot suggest keywords", str(exc))
            return None
        return result.keywords

    def farmannot_block(self, label_path: str) -> dict:
        """What farmannot saves under the annotation's ``"farmannot"`` key (other parts kept)."""
        block = dict((self._other_data or {}).get("farmannot") or {})
        block["schema"] = 1
        block["caption"] = self.caption_dock.caption_block()
        pic = self._fa_picture
        if pic is not None and self._image_path:
            scene = dict(block.get("scene") or {})
            scene["path"] = os.path.relpath(self._image_path, Path(label_path).parent).replace(os.sep, "/")
            scene.update(width=int(pic.rgb.shape[1]), height=int(pic.rgb.shape[0]))
            if pic.georef:
                scene.update(crs=pic.georef["crs"], transform=[float(v) for v in pic.georef["transform"]])
            month = self.caption_dock.keywords.get("month")
            if month is not None and month.source == "auto" and "date" in month.evidence:
                scene["date"] = month.evidence["date"]
            block["scene"] = scene
            block["display"] = {"bands": pic.bands, "band_names": pic.band_names, "stretch": pic.stretch}
        return block
