"""Every training option, with one home and one documented default."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

#: ``--device`` choices of training and evaluation (``auto``: CUDA when available, else CPU).
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """Options of ``farmannot train`` (also written to the run's ``config.json``).

    Attributes:
        dataset: dataset root or layout folder.
        model: a name of :data:`farmannot.train.models.catalog.MODELS` (``unet``, ``pspnet``, ``segformer``, ...).
        encoder: encoder name (None: the model's small default, e.g. resnet18 / mit_b0 / resnet50 for fcn).
        encoder_weights: pretrained encoder weights for smp (None: random; nothing is downloaded).
        inputs: ``image``, ``image+text`` or ``image+text+dem``.
        text_fusion: ``film`` or ``cross-attention``.
        epochs, batch_size, lr, weight_decay: optimisation; ``warmup`` is the warm-up fraction of all steps.
        seed: seeds the model, data order, augmentations and dropout.
        device: ``cpu``, ``cuda`` or ``auto``.
        amp: mixed precision (CUDA only; bf16 where supported, else fp16 with a grad scaler).
        workers: data-loading processes (None: on CUDA up to 8, cores - 1; on CPU 0).
        augment: random flips and 90-degree rotations.
        arch_kwargs: extra keyword arguments of the smp architecture (e.g. ``encoder_depth``).
        threshold: probability above which a pixel is parcel.
        sam_checkpoint, clip_checkpoint: ETTerra's pretrained SAM / CLIP state dicts (paths; read once at the
            start of a run, the run's checkpoints then hold the weights).
        clip_model: open_clip name of the CLIP text configuration when no ``clip_checkpoint`` is given.
        clip_quick_gelu: the CLIP weights use QuickGELU (OpenAI's original weights).
        sam_image_size: SAM input size (multiple of 16; default the checkpoint's, 1024 for SAM's own).
        freeze: ETTerra parts kept fixed (None: the encoders that start from a checkpoint).
        prompts: ETTerra's learnable prompt queries.
        class_names: tsmnet-text's two class names, comma-separated, background first.
    """

    dataset: str = ""
    model: str = "unet"
    encoder: str | None = None
    encoder_weights: str | None = None
    inputs: str = "image"
    text_fusion: str = "film"
    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: float = 0.05
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    workers: int | None = None
    augment: bool = True
    arch_kwargs: dict = field(default_factory=dict)
    threshold: float = 0.5
    sam_checkpoint: str | None = None
    clip_checkpoint: str | None = None
    clip_model: str | None = None
    clip_quick_gelu: bool = False
    sam_image_size: int | None = None
    freeze: list[str] | None = None
    prompts: int = 4
    class_names: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)
