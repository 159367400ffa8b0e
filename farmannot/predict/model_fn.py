"""A trained farmannot model as a patch function for :func:`farmannot.predict.sliding.sliding_predict`.

The model sees what it saw in training: patches prepared by the run's
:class:`farmannot.train.preprocess.Preprocess` (bands, scene-wide stretch, nodata, normalisation); for
``image+text`` runs one caption (``--caption``) embedded with the same offline sentence model (ETTerra: CLIP
token ids); for ``image+text+dem`` runs the DEM aligned to each patch through the terrain module, encoded by
the same ``Preprocess``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from farmannot.errors import FarmannotError

DEFAULT_CAPTION = "Farmland parcels."


def text_inputs(caption: str):
    """Sentence embedding, clause tokens and their mask for one caption, as training builds them."""
    from farmannot.train.text import MAX_TOKENS, TEXT_DIM, caption_clauses, sentence_embedder

    clauses = caption_clauses(caption)
    vecs = sentence_embedder()(clauses)
    tokens = np.zeros((MAX_TOKENS, TEXT_DIM), np.float32)
    tokens[:len(clauses)] = vecs
    mask = np.zeros(MAX_TOKENS, bool)
    mask[:len(clauses)] = True
    return vecs[0], tokens, mask


def model_predict_fn(model, config: dict, device: str = "cpu", caption: str | None = None,
                     amp: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """``(N, C, h, w)`` normalised inputs (+2 DEM channels for DEM runs) -> ``(N, 1, h, w)`` probabilities."""
    import torch

    inputs = config.get("inputs", "image")
    use_text = "text" in inputs
    use_dem = "dem" in inputs
    n_img = int(config.get("in_channels", 3))
    text = None
    if use_text:
        from farmannot.train.models.catalog import text_encoder

        if text_encoder(config.get("model", "unet")) == "clip":  # the model holds a CLIP text encoder: token ids
            from farmannot.train.models.clip_text import CaptionTokens

            vec, tokens, mask = CaptionTokens({"scene": caption or DEFAULT_CAPTION}).lookup("scene")
        else:
            vec, tokens, mask = text_inputs(caption or DEFAULT_CAPTION)
        text = (torch.from_numpy(vec), torch.from_numpy(tokens), torch.from_numpy(mask))
    dev = torch.device(device)

    def predict(x: np.ndarray) -> np.ndarray:
        xb = torch.from_numpy(np.ascontiguousarray(x)).to(dev)
        image = xb[:, :n_img]
        kwargs = {}
        if use_text:
            n = xb.shape[0]
            kwargs.update(text=text[0].to(dev).expand(n, -1), clauses=text[1].to(dev).expand(n, -1, -1),
                          clause_mask=text[2].to(dev).expand(n, -1))
        if use_dem:
            if xb.shape[1] < n_img + 2:
                raise FarmannotError("this model was trained with a DEM: give --dem")
            kwargs["dem"] = xb[:, n_img:n_img + 2]
        with torch.inference_mode(), torch.autocast(dev.type, enabled=amp and dev.type == "cuda"):
            logits = model(image, **kwargs)
        return torch.sigmoid(logits.float()).cpu().numpy()

    return predict
