"""The models ``farmannot train`` offers, by name, without importing torch (the CLI's choices come from here).

Each entry says which family builds it, which ``--inputs`` settings it takes and the paper section it
follows; :mod:`farmannot.train.models.registry` and :func:`farmannot.train.models.build_model` build them,
and a test checks that every name here has a builder.
"""

from __future__ import annotations

from dataclasses import dataclass

INPUT_SETTINGS = ("image", "image+text", "image+text+dem")
#: How a caption conditions the decoder (``--text-fusion``): :mod:`farmannot.train.models.conditioning`.
TEXT_FUSIONS = ("film", "cross-attention")
#: ETTerra's parts ``--freeze`` can keep fixed.
FREEZABLE = ("image-encoder", "text-encoder", "prompt-encoder", "mask-decoder")


@dataclass(frozen=True)
class ModelSpec:
    """One trainable model.

    Attributes:
        family: ``smp`` (segmentation-models-pytorch), ``torchvision``, ``etterra`` (SAM + CLIP) or
            ``tsmnet`` (an smp encoder with CLIP class-name prompts).
        inputs: the ``--inputs`` settings it takes.
        default_encoder: encoder used when ``--encoder`` is not given (None: the model has no encoder choice).
        source: the paper or library section it follows.
        text_encoder: what its ``text`` input is: ``minilm`` (the cached caption embedding) or ``clip``
            (CLIP token ids; the model holds the CLIP text encoder).
    """

    family: str
    inputs: tuple[str, ...] = INPUT_SETTINGS
    default_encoder: str | None = "resnet18"
    source: str = ""
    text_encoder: str = "minilm"


MODELS: dict[str, ModelSpec] = {
    "unet": ModelSpec("smp", source="U-Net (GTPBD-MM and FarmSeg-VL baselines)"),
    "pspnet": ModelSpec("smp", source="PSPNet (GTPBD-MM baseline, sec. 4 / App. B.2)"),
    "upernet": ModelSpec("smp", source="UperNet (pyramid pooling + FPN decoder)"),
    "deeplabv3": ModelSpec("smp", source="DeepLabV3 (GTPBD-MM and FarmSeg-VL baselines)"),
    "deeplabv3plus": ModelSpec("smp", source="DeepLabV3+"),
    "segformer": ModelSpec("smp", default_encoder="mit_b0", source="SegFormer (GTPBD-MM, FarmSeg-VL baselines)"),
    "fcn": ModelSpec("torchvision", default_encoder="resnet50", source="FCN (FarmSeg-VL baseline)"),
    "etterra": ModelSpec("etterra", default_encoder=None, text_encoder="clip",
                         source="ETTerra (GTPBD-MM sec. 4, App. B.1): SAM encoder + decoder, CLIP text, DEM branch"),
    "tsmnet-text": ModelSpec("tsmnet", inputs=("image", "image+text"),
                             source="TSMNet (paper 004, sec. 3.3-3.5): CoOp class prompts, score map, caption"),
}

MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


def text_encoder(model: str) -> str:
    """``minilm`` or ``clip``: what a model's ``text`` input is."""
    spec = MODELS.get(model)
    return spec.text_encoder if spec else "minilm"
