"""The window's SAM side: farmannot's model in labelme's AI tools, the status bar, the click worker's end.

A mixin of :class:`farmannot_labelme.window.FarmannotMainWindow` (it uses the window's state: the options,
the canvas, the open image's visit). The click itself is Qt glue around :mod:`farmannot.sam.click`: the
canvas (``canvas.py``) hands prompts to its click worker (``click_worker.py``), which asks
:meth:`farmannot_labelme.sam_bridge.SamBridge.field_rings`; embeddings are made on the bridge's thread.
"""

from __future__ import annotations

import time

from PyQt5 import QtWidgets

from farmannot_labelme.canvas import FarmannotCanvas, drawn_from, drawn_outlines
from farmannot_labelme.click_worker import ClickWorker
from farmannot_labelme.sam_bridge import MODEL_LABEL, MODEL_NAME, SamBridge, register_model_type

_AI_MODES = ("ai_points_to_shape", "ai_box_to_shape")
TEXT_MODEL_LABEL = "farmannot SAM 3 (checkpoint)"


class SamMixin:
    """SAM in the window: the bridge and model chooser, text prompts kept from downloading, status."""

    def _fa_install_sam(self, render: dict) -> None:
        """The bridge (embeddings off the GUI thread), farmannot's canvas and model, the status label."""
        fa = self._fa
        self.sam_bridge = SamBridge(fa.session, render, fa.simplify_px, fa.min_area_px, fa.keep_apart, parent=self)
        register_model_type(self.sam_bridge)
        canvas = self._canvas_widgets.canvas
        canvas.__class__ = FarmannotCanvas
        canvas.farmannot_bridge = self.sam_bridge
        combo = self._ai_annotation._model_combo
        combo.insertItem(0, MODEL_LABEL, MODEL_NAME)
        combo.setCurrentIndex(0)  # labelme's handler calls canvas.set_ai_model_name(MODEL_NAME)
        self._fa_prune_models()
        self._fa_text_action = next((a for tb in self.findChildren(QtWidgets.QToolBar) for a in tb.actions()
                                     if isinstance(a, QtWidgets.QWidgetAction)
                                     and a.defaultWidget() is self._ai_text), None)
        self._fa_text_worker = None
        self._fa_text_run = 0
        if self.text_prompt_capable():  # the text box's model chooser offers farmannot's SAM 3 first
            self._ai_text._model_combo.insertItem(0, TEXT_MODEL_LABEL, MODEL_NAME)
            self._ai_text._model_combo.setCurrentIndex(0)
        self._fa_show_text_prompt()
        canvas.new_shape.connect(self._fa_on_new_shape)

        self.sam_status = QtWidgets.QLabel(self.sam_bridge.describe())
        self.sam_status.setObjectName("farmannot-sam-status")
        self.statusBar().addPermanentWidget(self.sam_status)
        self.sam_bridge.status.connect(self._fa_set_sam_status)
        self.sam_bridge.embedding_ready.connect(self._fa_on_embedding_ready)
        self.sam_bridge.failed.connect(self.show_farmannot_error)
        self.sam_status.setToolTip(self.sam_bridge.describe())

    def _fa_close_sam(self) -> None:
        """The window closes: stop the embedding thread and the click worker."""
        self.sam_bridge.close()
        for worker in (self._canvas_widgets.canvas.__dict__.get("_fa_worker"), self._fa_text_worker):
            if worker is not None:
                worker.close()

    # -- AI model chooser and text prompts ------------------------------------------------------------------

    def _fa_prune_models(self) -> None:
        """Leave only models that run without a download: farmannot's checkpoint and osam models already on
        disk (labelme's chooser lists every model osam could fetch)."""
        import osam

        combo = self._ai_annotation._model_combo
        for i in reversed(range(combo.count())):
            name = combo.itemData(i)
            if name == MODEL_NAME:
                continue
            try:
                on_disk = osam.apis.get_model_type_by_name(name).get_size() is not None
            except Exception:  # noqa: BLE001 - an osam name it no longer knows: not offered either
                on_disk = False
            if not on_disk:
                combo.removeItem(i)

    def text_prompt_capable(self) -> bool:
        """The hook for text prompts: True when the SAM session can segment from text (a SAM 3 model).

        A session says so with a true ``supports_text_prompts`` attribute; until one does, labelme's
        Text-to-Annotation box (which would download YOLO-World or SAM 3) stays hidden.
        """
        session = self.sam_bridge.session if self.sam_bridge is not None else None
        return bool(getattr(session, "supports_text_prompts", False))

    def _fa_show_text_prompt(self) -> None:
        if self._fa_text_action is not None:
            self._fa_text_action.setVisible(self.text_prompt_capable())

    def _submit_ai_prompt(self, _value: bool) -> None:
        """labelme's text prompt: farmannot's SAM 3 makes drafts (:meth:`_fa_run_text_prompt`); other models
        only when already on disk (never a download), else the status bar says so."""
        import osam

        name = self._ai_text.get_model_name()
        if name == MODEL_NAME and self.text_prompt_capable():
            self._fa_run_text_prompt(self._ai_text.get_text_prompt().strip())
            return
        try:
            on_disk = osam.apis.get_model_type_by_name(name).get_size() is not None
        except Exception:  # noqa: BLE001 - unknown to osam
            on_disk = False
        if not on_disk:
            self.show_status_message(f"Text prompts: {name} is not on this machine and farmannot never downloads "
                                     "models; use AI-Points / AI-Box with the SAM checkpoint.", 10000)
            return
        super()._submit_ai_prompt(_value)

    def _fa_run_text_prompt(self, text: str) -> None:
        """Every instance of ``text`` on the open image, made on a worker thread (a SAM 3 text prompt takes
        tens of seconds on a CPU) by :meth:`SamBridge.text_fields`; they arrive as drafts
        (:meth:`_fa_on_text_result`). A large scene's views: the status bar points to ``propose --text``."""
        canvas = self._canvas_widgets.canvas
        if not text:
            self.show_status_message("Text prompts: type what to find, e.g. farmland parcel", 5000)
            return
        if canvas.farmannot_grid_active():
            self._fa_set_sam_status(f"Text prompts run on whole images; for this large scene run `farmannot propose "
                                    f"SCENE --text \"{text}\"` (drafts in every view), then open it here.")
            return
        if self._fa_text_worker is None:
            self._fa_text_worker = ClickWorker(self._fa_on_text_result, parent=self)
        if self._fa_text_worker.busy():
            self._fa_set_sam_status("SAM 3: a text prompt is still running; wait for its drafts")
            return
        bridge, rgb, outlines = self.sam_bridge, canvas._farmannot_rgb(), drawn_outlines(canvas.shapes)
        self._fa_text_run += 1
        key = (self._fa_text_run, self._image_path, bridge.current_key, text, time.perf_counter())

        def job() -> list[tuple[list, float]] | None:  # the polygons and scores only: results are kept a while
            found = bridge.text_fields(rgb, text, drawn_from(outlines))
            return None if found is None else [(c.polygons, c.score) for c in found]

        self._fa_text_worker.submit(key, job)
        self._fa_set_sam_status(f"SAM 3: finding every \"{text}\" on {bridge.current_name} (tens of seconds on "
                                "a CPU; the window stays usable)...")

    def _fa_on_text_result(self, key, result, _finish: bool) -> None:
        """A text prompt's instances -> draft shapes (flagged ``proposal``, scored, as ``propose`` writes them),
        added in one undo step; nothing when another image was opened meanwhile."""
        _, image_path, image_key, text, t0 = key
        if isinstance(result, Exception):
            self.sam_bridge.failed.emit("SAM 3 text prompt failed", str(result))
            return
        if result is None:  # the embedding was not ready: queued, the status bar says so
            return
        if (image_path, image_key) != (self._image_path, self.sam_bridge.current_key):
            self._fa_set_sam_status(f"SAM 3: the drafts for \"{text}\" were for an image no longer open")
            return
        from labelme._label_file import _load_shape_json_obj
        from labelme.app import _shapes_from_dicts
        from shapely.geometry import MultiPolygon

        from farmannot.io.labelme_json import shape_to_dict
        from farmannot.predict.drafts import draft_shapes

        canvas = self._canvas_widgets.canvas
        drafts = [(MultiPolygon([r.to_shapely() for r in polygons]), score) for polygons, score in result]
        groups = [s.group_id for s in canvas.shapes if isinstance(s.group_id, int)]
        shapes = draft_shapes(drafts, method="sam-text", label=self._fa.farmland_labels[0],
                              attributes=[{"text": text}] * len(drafts), first_group_id=max(groups, default=0) + 1)
        if shapes:
            self._load_shapes(_shapes_from_dicts(shape_dicts=[_load_shape_json_obj(shape_to_dict(s)) for s in shapes],
                                                 label_flags=self._config["label_flags"]), replace=False)
            self._actions.undo.setEnabled(canvas.can_restore_shape)
            self.mark_dirty()
        self._fa_set_sam_status(f"SAM 3: {len(drafts)} draft(s) for \"{text}\" in {time.perf_counter() - t0:.1f} s; "
                                "accept or delete them in the Drafts dock")

    # -- status ---------------------------------------------------------------------------------------------

    def _fa_set_sam_status(self, text: str) -> None:
        self.sam_status.setText(text)
        self.sam_status.setToolTip(text)

    def _fa_on_embedding_ready(self, name: str, key: str, seconds: float, hit: bool) -> None:
        if key == self.sam_bridge.current_key:
            if name != self.sam_bridge.current_name:  # another image with the same pixels (the next one, a copy)
                return  # the open image's status stands
            how = "from cache" if hit else f"embedding {seconds:.1f} s"
            self._fa_set_sam_status(f"SAM ready on {name} ({how})")
        else:
            self.sam_status.setText(f"{self.sam_status.text()} | next image {name} embedded in advance")

    def _fa_on_new_shape(self) -> None:
        # runs after labelme's own slot has labelled the new shapes (holes: FarmannotCanvas.set_last_label)
        canvas = self._canvas_widgets.canvas
        if self._fa_visit is not None and canvas.create_mode in _AI_MODES:
            self._fa_visit["sam_shapes"] += 1

    def _on_inference_produced_no_shapes(self) -> None:
        if not self.sam_bridge.enabled or not self.sam_bridge.is_ready():
            self.show_status_message(self.sam_status.text(), 8000)
            return
        super()._on_inference_produced_no_shapes()
