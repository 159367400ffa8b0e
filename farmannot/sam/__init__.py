"""Segment-anything without Qt: checkpoints, the embedding cache, prompts -> masks -> polygons.

- :mod:`farmannot.sam.model`: build / load / save SAM models (``torch.load(weights_only=True)``).
- :mod:`farmannot.sam.cache`: :func:`cache_key` of explicit inputs, :class:`EmbeddingCache` on disk.
- :mod:`farmannot.sam.session`: :class:`SamSession` (embed with cache, prompt -> mask -> polygons).
- :mod:`farmannot.sam.prompts`: labelme's point/box prompts to SAM inputs.
- :mod:`farmannot.sam.click`: a prompt -> SAM's mask -> the clicked field's polygons (holes included), the one
  path of the annotator's canvas, the scene grid and ``propose``.
- :mod:`farmannot.sam.imagery`: the RGB picture of a file that the annotator sees and SAM embeds.
- :mod:`farmannot.sam.annotation_time`: the per-image annotation time log and its summary.
"""
