"""The window's loading side: rasters rendered by farmannot, project scenes opened with their annotations,
the display choice, and where Save and autosave write.

A mixin of :class:`farmannot_labelme.window.FarmannotMainWindow` (it uses the window's state: the options, the
open picture, the annotation home, the docks). What it overrides in labelme 6.3.1 (checked by
``tests/plugins/test_labelme_hooks.py``):

- ``_open_image_into_state`` / ``_open_label_file_into_state``: rasters are rendered by farmannot
  (:func:`farmannot.sam.imagery.render_picture`: band choice, scene-wide stretch, nodata) and handed to
  labelme as PNG bytes; drafts opened with a project's annotation are added to its shapes;
- ``_load_file``: the annotation the project reads is opened (:mod:`farmannot_labelme.annotation_home`), then
  SAM embeddings are queued, the display dock and caption restored, timing started;
- ``mark_dirty`` / ``current_label_file_path`` / ``_import_images_from_dir``: autosave, Save and the file
  list's ticks follow the annotation home, not labelme's "beside the image" rule;
- ``_file_list_item_selection_changed``: a refused change of image leaves the file list on the image shown.

The display choice is one :class:`farmannot.io.stretch.DisplaySettings` value (``AnnotateOptions.display``):
this canvas and the large-scene views (:mod:`farmannot_labelme.scene_grid_dock`) both render with it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from PyQt5 import QtCore, QtGui

from farmannot.errors import FarmannotError
from farmannot.io.stretch import DisplaySettings
from farmannot.sam.imagery import Picture, band_labels, is_raster_path, render_picture
from farmannot_labelme.qimage import png_bytes, qimage_to_rgb


class LoadingMixin:
    """Opening images and annotations (rasters, project scenes, drafts) and the display choice."""

    # -- image loading ---------------------------------------------------------------------------------------

    def _fa_render(self, path: str) -> Picture | None:
        try:
            return render_picture(path, sensor=self._fa.sensor, **self._fa.display.render_options())
        except FarmannotError as exc:
            self.show_farmannot_error("Cannot show image", str(exc))
            return None

    def _open_image_into_state(self, image_path: str) -> bool:
        self._fa_picture = None
        if not is_raster_path(image_path):
            return super()._open_image_into_state(image_path)
        pic = self._fa_render(image_path)
        if pic is None:
            return False
        self._fa_picture = pic
        self._image_data = png_bytes(pic.rgb)
        self._image_path = image_path
        self._label_file_path = None
        return True

    def _open_label_file_into_state(self, label_path: str):
        self._fa_picture = None
        data = super()._open_label_file_into_state(label_path)
        if data is not None and self._image_path:
            # labelme joins the label's folder and imagePath as they are: a project annotation's
            # "../scenes/X.tif" would leave ".." in the path, unlike the file list's entry for the same scene
            # (the next image then is not found to embed in advance, and the title shows the detour)
            self._image_path = os.path.normpath(self._image_path)
        if data is not None and self._fa_extra_shapes:  # drafts opened with the project's annotation
            from labelme._label_file import _load_shape_json_obj

            try:
                extra = [_load_shape_json_obj(dict(d)) for d in self._fa_extra_shapes]
                data = dataclasses.replace(data, shapes=[*data.shapes, *extra])
            except (KeyError, TypeError, ValueError, AssertionError) as exc:
                self.show_farmannot_error("Drafts not added", f"{label_path}: {exc}")
        if data is not None and self._image_path and is_raster_path(self._image_path) \
                and Path(self._image_path).is_file():
            pic = self._fa_render(self._image_path)
            if pic is not None:
                self._fa_picture = pic
                self._image_data = png_bytes(pic.rgb)
        return data

    def _load_file(self, image_or_label_path: str) -> None:
        self._fa_end_visit()
        path = image_or_label_path
        images = self.image_list
        if path in images and self._docks.file_list.currentRow() != images.index(path):
            super()._load_file(path)  # labelme moves the file list; the row change calls back here
            return
        self._fa_home.output_dir = self._output_dir
        plan = self._fa_home.plan(path)  # annotation_home.py: the project's annotation, drafts added
        self._fa_extra_shapes = plan.extra_shapes
        try:
            super()._load_file(plan.open)
        finally:
            self._fa_extra_shapes = []
        canvas = self._canvas_widgets.canvas
        if self._image_path and not self._image.isNull() and canvas.isEnabled():
            if not canvas.shape_backups:  # an image without shapes: its empty state is what Undo goes back to
                canvas.backup_shapes()
            if plan.save_to:
                self._label_file_path = plan.save_to
                if not self._is_changed:
                    self.mark_clean()  # labelme's delete-file action follows the annotation's existence
            if plan.drafts_from:
                self.show_status_message(f"Opened {Path(plan.drafts_from).name} with the project's annotation; "
                                         f"saving writes {self._label_file_path}", 10000)
            if self._fa_visit is None:
                self._fa_after_load()

    # -- where the annotation lives (annotation_home.py) -------------------------------------------------------

    def annotation_path(self) -> str | None:
        """The file Save and autosave write for the open image: the opened or planned annotation, else
        labelme's rule (``--output`` or beside the image)."""
        if self._label_file_path:
            return self._label_file_path
        if not self._image_path:
            return None
        self._fa_home.output_dir = self._output_dir
        return self._fa_home.save_path(self._image_path)

    def current_label_file_path(self) -> str:
        return self.annotation_path() or super().current_label_file_path()

    def mark_dirty(self) -> None:
        """labelme's, except that autosave writes :meth:`annotation_path` (labelme's writes beside the image)."""
        if not (self._actions.save_auto.isChecked() and self._image_path):
            super().mark_dirty()
            return
        self._actions.undo.setEnabled(self._canvas_widgets.canvas.can_restore_shape)
        path = self.annotation_path()
        if self.save_labels(path):
            self.show_status_message(f"Saved {path}", 3000)
            return
        self._is_changed = True  # not saved: keep it dirty so closing asks
        self._actions.save.setEnabled(True)
        self.setWindowTitle(self._get_window_title(dirty=True))

    def _file_list_item_selection_changed(self) -> None:
        """labelme's, then the file list's row put back on the image shown when the change was refused
        ("Save annotations?" answered Cancel): labelme left the row on the image not opened, so the title
        counted from it and Next skipped an image (or, on the last but one, went nowhere)."""
        super()._file_list_item_selection_changed()
        images, shown = self.image_list, self._image_path
        if shown in images and self._docks.file_list.currentRow() != images.index(shown):
            file_list = self._docks.file_list
            file_list.blockSignals(True)
            file_list.setCurrentRow(images.index(shown))
            file_list.blockSignals(False)
            self.setWindowTitle(self._get_window_title(dirty=self._is_changed))

    def _import_images_from_dir(self, root_dir: str | None, pattern: str | None = None) -> None:
        super()._import_images_from_dir(root_dir, pattern)
        self._fa_home.output_dir = self._output_dir
        for i in range(self._docks.file_list.count()):  # ticked: has an annotation where farmannot saves it
            item = self._docks.file_list.item(i)
            item.setCheckState(QtCore.Qt.Checked if self._fa_home.has_annotation(item.text())
                               else QtCore.Qt.Unchecked)

    def _fa_current_rgb(self):
        if self._fa_picture is not None:
            return self._fa_picture.rgb
        return qimage_to_rgb(self._canvas_widgets.canvas.pixmap.toImage())

    def _fa_next_path(self) -> str | None:
        images = self.image_list
        if self._image_path in images:
            i = images.index(self._image_path)
            if i + 1 < len(images):
                return images[i + 1]
        return None

    def _fa_after_load(self) -> None:
        path = self._image_path
        self.sam_bridge.prepare(self._fa_current_rgb(), Path(path).name, self._fa_next_path())
        self._fa_show_display(path)
        self.caption_dock.load(self._fa_initial_keywords(path))
        self._fa_start_visit(path)

    # -- display choice -------------------------------------------------------------------------------------

    def _fa_show_display(self, path: str) -> None:
        """The display dock reflects the picture on screen (bands, stretch numbers; empty for PNG/JPEG)."""
        pic = self._fa_picture
        try:
            labels = band_labels(path, self._fa.sensor) if pic is not None else []
        except FarmannotError:
            labels = []
        self.display_dock.show_picture(labels, pic.bands if pic else [], self._fa.stretch,
                                       pic.stretch if pic else None)

    def _fa_apply_display(self, settings: DisplaySettings) -> None:
        """The Display dock's choice: re-render the open raster, and every next one, with it."""
        self._fa.display = settings
        self.sam_bridge.render_options.update(settings.render_options())
        if not self._image_path or self._fa_picture is None:
            return
        pic = self._fa_render(self._image_path)
        if pic is None:
            return
        self._fa_picture = pic
        self._image_data = png_bytes(pic.rgb)
        image = QtGui.QImage.fromData(self._image_data)
        self._image = image
        self._canvas_widgets.canvas.load_pixmap(QtGui.QPixmap.fromImage(image), clear_shapes=False)
        self._fa_show_display(self._image_path)
        self.sam_bridge.prepare(pic.rgb, Path(self._image_path).name, self._fa_next_path())
        self.mark_dirty()
