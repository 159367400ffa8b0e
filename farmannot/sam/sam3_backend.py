"""SAM 3 behind the backend interface (:mod:`farmannot.sam.backends`), plus concept prompts.

Follows ``sam3``'s ``Sam3Processor`` step by step, with the embedding split off for the cache:

- ``encode``: the picture resized to the model's square input, scaled to [-1, 1], through the ViT trunk;
  the trunk's output (``(1024, 72, 72)`` for the published model, 20 MiB) is the cached embedding. The neck
  (upsampling convolutions to three feature maps, five times the size on disk) runs once per embedding in
  use and is kept in memory for the next prompt on it, as are the text encoder's features of the last few
  prompts.
- ``text_masks(rgb, emb, text, boxes=None)``: every instance of a concept (``"farmland parcel"``,
  optionally with example boxes): queries whose score
  (query probability times the presence probability) exceeds :attr:`Sam3Backend.score_threshold`
  (``Sam3Processor``'s 0.5), masks upsampled to the picture;
- ``decode(emb, prompt)``: points and a box as SAM 3 geometric prompts (exemplars, with the text
  ``"visual"`` as ``Sam3Processor.add_geometric_prompt`` uses), the best-scoring instance's mask.

``sam3`` has no automatic mask generator; ``propose`` uses ``text_masks`` on it.
"""

from __future__ import annotations

import threading

import numpy as np

from farmannot.sam.cache import Embedding
from farmannot.sam.prompts import Prompt


class Sam3Backend:
    """``sam3``'s ``Sam3Image`` (detector with text, box and point prompts)."""

    family = "sam3"

    def __init__(self, model, score_threshold: float = 0.5) -> None:
        self.module = model
        self.score_threshold = score_threshold
        self._neck: tuple[Embedding, dict] | None = None  # the last embedding's neck output
        self._texts: dict[str, dict] = {}  # text encoder outputs of recent prompts
        self._lock = threading.Lock()  # clicks are decoded on worker threads

    @property
    def img_size(self) -> int:
        return int(self.module.farmannot_config.image_size)

    @property
    def device(self):
        return self.module.device

    def _context(self):
        import contextlib

        from farmannot.sam.sam3_model import cpu_safe

        return cpu_safe() if self.device.type == "cpu" else contextlib.nullcontext()

    def encode(self, rgb: np.ndarray) -> Embedding:
        """``Sam3Processor.set_image``'s transform, then the ViT trunk only."""
        import torch
        from torchvision.transforms import v2

        s = self.img_size
        with torch.inference_mode():
            x = v2.functional.to_image(np.ascontiguousarray(rgb)).to(self.device)
            x = v2.functional.resize(x, [s, s])
            x = v2.functional.to_dtype(x, torch.float32, scale=True)
            x = v2.functional.normalize(x, mean=[0.5] * 3, std=[0.5] * 3)[None]
            trunk = self.module.backbone.vision_backbone.trunk(x)[-1]
        return Embedding(features=trunk[0].float().cpu().numpy(), original_size=(int(rgb.shape[0]), int(rgb.shape[1])),
                         input_size=(s, s))

    def _backbone_out(self, emb: Embedding) -> dict:
        """``SAM3VLBackbone.forward_image``'s output from the cached trunk features (the neck's steps)."""
        import torch

        cached = self._neck
        if cached is not None and cached[0] is emb:
            return dict(cached[1])
        backbone = self.module.backbone
        neck = backbone.vision_backbone
        x = torch.from_numpy(emb.features[None]).to(self.device)
        feats = [conv(x) for conv in neck.convs]
        pos = [neck.position_encoding(f).to(f.dtype) for f in feats]
        if backbone.scalp > 0:
            feats, pos = feats[:-backbone.scalp], pos[:-backbone.scalp]
        out = {"vision_features": feats[-1], "vision_pos_enc": pos, "backbone_fpn": feats, "sam2_backbone_out": None}
        self._neck = (emb, out)
        return dict(out)

    def _text(self, text: str) -> dict:
        with self._lock:
            if text not in self._texts:
                if len(self._texts) >= 8:
                    self._texts.pop(next(iter(self._texts)))
                self._texts[text] = self.module.backbone.forward_text([text], device=self.device)
            return self._texts[text]

    def _ground(self, emb: Embedding, text: str, geometric=None) -> tuple:
        """``(scores (Q,), mask logits (Q, h, w))`` of every query for ``text`` and a geometric prompt."""
        import torch
        from sam3.model.data_misc import FindStage

        model, dev = self.module, self.device
        find = FindStage(img_ids=torch.tensor([0], device=dev, dtype=torch.long),
                         text_ids=torch.tensor([0], device=dev, dtype=torch.long), input_boxes=None,
                         input_boxes_mask=None, input_boxes_label=None, input_points=None, input_points_mask=None)
        with torch.inference_mode(), self._context():
            out = self._backbone_out(emb)
            out.update(self._text(text))
            res = model.forward_grounding(backbone_out=out, find_input=find, find_target=None,
                                          geometric_prompt=geometric if geometric is not None
                                          else model._get_dummy_prompt())
            scores = (res["pred_logits"].sigmoid() * res["presence_logit_dec"].sigmoid().unsqueeze(1))[0, :, 0]
        return scores, res["pred_masks"][0]

    def _upsample(self, logits, size: tuple[int, int]) -> np.ndarray:
        import torch.nn.functional as F

        up = F.interpolate(logits[:, None].float(), size, mode="bilinear", align_corners=False)
        return (up[:, 0] > 0.0).cpu().numpy()  # sigmoid > 0.5, as Sam3Processor

    def _geometric(self, size: tuple[int, int], boxes=None, points=None, labels=None):
        """A sam3 geometric prompt: ``boxes`` ``(N, 4)`` x0, y0, x1, y1 and ``points`` ``(N, 2)`` x, y in
        picture pixels (labels 1 include / 0 exclude), normalised to the picture as sam3 expects."""
        import torch

        (h, w), dev = size, self.device
        geometric = self.module._get_dummy_prompt()
        for x0, y0, x1, y1 in np.asarray(boxes if boxes is not None else [], dtype=float).reshape(-1, 4):
            cxcywh = [(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h]
            geometric.append_boxes(torch.tensor(cxcywh, dtype=torch.float32, device=dev).view(1, 1, 4),
                                   torch.ones(1, 1, dtype=torch.bool, device=dev))
        if points is not None:
            xy = torch.as_tensor(points, dtype=torch.float32, device=dev) / torch.tensor([w, h], device=dev)
            geometric.append_points(xy[:, None], torch.as_tensor(labels, device=dev).long()[:, None])
        return geometric

    def text_masks(self, rgb: np.ndarray, emb: Embedding, text: str, boxes=None) -> list[dict]:
        """Every instance of ``text`` on the picture: ``segmentation`` (bool, picture size) and its score as
        ``predicted_iou`` (the key ``propose`` reads), best first.

        ``boxes``: optional ``(N, 4)`` example boxes (x0, y0, x1, y1 in picture pixels: spectral regions,
        drafts) given with the text, as ``Sam3Processor.add_geometric_prompt`` adds them.
        """
        geometric = self._geometric(tuple(emb.original_size), boxes) if boxes is not None else None
        scores, logits = self._ground(emb, text, geometric)
        keep = (scores > self.score_threshold).nonzero()[:, 0]
        keep = keep[scores[keep].argsort(descending=True)]
        masks = self._upsample(logits[keep], tuple(emb.original_size)) if len(keep) else []
        return [{"segmentation": m, "predicted_iou": float(scores[i])} for m, i in zip(masks, keep.tolist(),
                                                                                         strict=True)]

    def decode(self, emb: Embedding, prompt: Prompt) -> tuple[np.ndarray, float]:
        """Points (labels 1/0) and a box as geometric prompts; the best-scoring instance's mask."""
        import torch

        size = tuple(emb.original_size)
        geometric = self._geometric(size, prompt.box, prompt.point_coords, prompt.point_labels)
        scores, logits = self._ground(emb, "visual", geometric)
        best = int(torch.argmax(scores))
        return self._upsample(logits[best:best + 1], size)[0], float(scores[best])

    def automatic_masks(self, rgb: np.ndarray, emb: Embedding, **options) -> list[dict]:
        raise NotImplementedError("SAM 3 has no automatic mask generator: give a concept prompt (propose --text).")
