"""One interface over the SAM model families: embed a picture, decode a prompt, generate automatic masks.

:class:`farmannot.sam.session.SamSession` (and through it the annotator, ``precompute-embeddings``,
``propose`` and ``propose --points``) talks to a backend only:

- ``encode(rgb) -> Embedding``: the encoder's output, cached on disk by the session;
- ``decode(emb, prompt) -> (mask, score)``: the prompt encoder and mask decoder on a cached embedding, only
  the chosen mask upsampled to the picture;
- ``automatic_masks(rgb, emb, **options)``: the family's own automatic mask generator, its embedding taken
  from the cache instead of recomputed.

:class:`Sam1Backend` wraps segment-anything's ``Sam``; :class:`Sam2Backend` wraps ``sam2``'s ``SAM2Base``
and follows ``SAM2ImagePredictor`` step by step (features with ``no_mem_embed`` added, the two high-resolution
feature maps kept beside the embedding, boxes passed as corner points). SAM 3's backend, with concept
prompts (``text_masks``), is :class:`farmannot.sam.sam3_backend.Sam3Backend`.
"""

from __future__ import annotations

import numpy as np

from farmannot.sam.cache import Embedding
from farmannot.sam.prompts import Prompt


class Sam1Backend:
    """segment-anything's SAM (ViT-B/L/H)."""

    family = "sam"

    def __init__(self, sam) -> None:
        self.module = sam

    @property
    def img_size(self) -> int:
        return int(self.module.image_encoder.img_size)

    @property
    def device(self):
        return self.module.device

    def _predictor(self):
        from segment_anything import SamPredictor

        return SamPredictor(self.module)

    def encode(self, rgb: np.ndarray) -> Embedding:
        import torch

        predictor = self._predictor()
        with torch.inference_mode():
            predictor.set_image(rgb, image_format="RGB")
            feats = predictor.features[0].detach().float().cpu().numpy()
        return Embedding(features=feats, original_size=tuple(predictor.original_size),
                         input_size=tuple(predictor.input_size))

    def decode(self, emb: Embedding, prompt: Prompt) -> tuple[np.ndarray, float]:
        """``SamPredictor.predict``'s steps, upsampling only the best mask."""
        import torch

        sam, dev = self.module, self.device
        transform = self._predictor().transform
        coords = box = None
        with torch.inference_mode():
            if prompt.point_coords is not None:
                xy = transform.apply_coords(prompt.point_coords, emb.original_size)
                coords = (torch.as_tensor(xy, dtype=torch.float, device=dev)[None],
                          torch.as_tensor(prompt.point_labels, dtype=torch.int, device=dev)[None])
            if prompt.box is not None:
                box = torch.as_tensor(transform.apply_boxes(prompt.box[None], emb.original_size),
                                      dtype=torch.float, device=dev)
            sparse, dense = sam.prompt_encoder(points=coords, boxes=box, masks=None)
            low_res, iou = sam.mask_decoder(
                image_embeddings=torch.from_numpy(emb.features[None]).to(dev),
                image_pe=sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=prompt.multimask,
            )
            best = int(torch.argmax(iou[0]))
            up = sam.postprocess_masks(low_res[:, best:best + 1], tuple(emb.input_size), tuple(emb.original_size))
            mask = (up[0, 0] > sam.mask_threshold).cpu().numpy()
        return mask, float(iou[0, best])

    def automatic_masks(self, rgb: np.ndarray, emb: Embedding, **options) -> list[dict]:
        """segment-anything's ``SamAutomaticMaskGenerator`` on ``rgb`` with ``emb`` as its embedding."""
        import torch
        from segment_anything import SamAutomaticMaskGenerator

        gen = SamAutomaticMaskGenerator(self.module, **options)
        pred = gen.predictor

        def set_image(image, image_format="RGB"):  # the generator's call: use the cached embedding instead
            pred.reset_image()
            pred.features = torch.from_numpy(emb.features[None]).to(self.device)
            pred.original_size = tuple(emb.original_size)
            pred.input_size = tuple(emb.input_size)
            pred.is_image_set = True

        pred.set_image = set_image
        with torch.inference_mode():
            return gen.generate(rgb)


class Sam2Backend:
    """``sam2``'s SAM 2 / SAM 2.1 image model (Hiera encoder)."""

    family = "sam2"

    def __init__(self, model) -> None:
        from sam2.utils.transforms import SAM2Transforms

        self.module = model
        self._transforms = SAM2Transforms(resolution=model.image_size, mask_threshold=0.0)
        self._generator = None

    @property
    def img_size(self) -> int:
        return int(self.module.image_size)

    @property
    def device(self):
        return self.module.device

    def _features(self, emb: Embedding) -> dict:
        import torch

        dev = self.device
        return {"image_embed": torch.from_numpy(emb.features[None]).to(dev),
                "high_res_feats": [torch.from_numpy(emb.extras[f"high_res_{i}"][None]).to(dev) for i in (0, 1)]}

    def encode(self, rgb: np.ndarray) -> Embedding:
        """``SAM2ImagePredictor.set_image``: backbone, ``no_mem_embed``, three feature levels."""
        import torch

        model = self.module
        with torch.inference_mode():
            x = self._transforms(rgb)[None].to(self.device)
            backbone_out = model.forward_image(x)
            _, vision_feats, _, sizes = model._prepare_backbone_features(backbone_out)
            if model.directly_add_no_mem_embed:
                vision_feats[-1] = vision_feats[-1] + model.no_mem_embed
            feats = [f.permute(1, 2, 0).reshape(1, -1, *s)[0].float().cpu().numpy()
                     for f, s in zip(vision_feats, sizes, strict=True)]
        s = self.img_size
        return Embedding(features=feats[-1], original_size=(int(rgb.shape[0]), int(rgb.shape[1])), input_size=(s, s),
                         extras={"high_res_0": feats[0], "high_res_1": feats[1]})

    def decode(self, emb: Embedding, prompt: Prompt) -> tuple[np.ndarray, float]:
        """``SAM2ImagePredictor.predict``'s steps (box corners first, labels 2 and 3), best mask upsampled."""
        import torch
        import torch.nn.functional as F

        model, dev, (h, w) = self.module, self.device, emb.original_size
        scale = torch.tensor([self.img_size / w, self.img_size / h], dtype=torch.float, device=dev)
        coords, labels = [], []
        if prompt.box is not None:
            coords.append(torch.as_tensor(prompt.box, dtype=torch.float, device=dev).reshape(2, 2) * scale)
            labels.append(torch.tensor([2, 3], dtype=torch.int, device=dev))
        if prompt.point_coords is not None:
            coords.append(torch.as_tensor(prompt.point_coords, dtype=torch.float, device=dev) * scale)
            labels.append(torch.as_tensor(prompt.point_labels, dtype=torch.int, device=dev))
        feats = self._features(emb)
        with torch.inference_mode():
            sparse, dense = model.sam_prompt_encoder(points=(torch.cat(coords)[None], torch.cat(labels)[None]),
                                                     boxes=None, masks=None)
            low_res, iou, _, _ = model.sam_mask_decoder(
                image_embeddings=feats["image_embed"], image_pe=model.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=prompt.multimask, repeat_image=False, high_res_features=feats["high_res_feats"],
            )
            best = int(torch.argmax(iou[0]))
            up = F.interpolate(low_res[:, best:best + 1].float(), (h, w), mode="bilinear", align_corners=False)
            mask = (up[0, 0] > 0.0).cpu().numpy()
        return mask, float(iou[0, best])

    def automatic_masks(self, rgb: np.ndarray, emb: Embedding, **options) -> list[dict]:
        """``sam2``'s ``SAM2AutomaticMaskGenerator`` on ``rgb`` with ``emb`` as its embedding."""
        import torch
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

        key = tuple(sorted(options.items()))
        if self._generator is None or self._generator[0] != key:  # its predictor scripts transforms: build once
            self._generator = (key, SAM2AutomaticMaskGenerator(self.module, **options))
        gen = self._generator[1]
        pred = gen.predictor

        def set_image(image):  # the generator's call: use the cached embedding instead
            pred.reset_predictor()
            pred._features = self._features(emb)
            pred._orig_hw = [tuple(emb.original_size)]
            pred._is_image_set = True

        pred.set_image = set_image
        with torch.inference_mode():
            return gen.generate(rgb)


def backend_for(module):
    """The backend of a loaded torch module (segment-anything ``Sam``, sam2 ``SAM2Base`` or sam3 ``Sam3Image``)."""
    if type(module).__module__.startswith("sam3."):
        from farmannot.sam.sam3_backend import Sam3Backend

        return Sam3Backend(module)
    if type(module).__module__.startswith("sam2."):
        return Sam2Backend(module)
    return Sam1Backend(module)
