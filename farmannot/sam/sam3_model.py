"""SAM 3 image models from the ``sam3`` package, built on any device (never downloaded).

``sam3.model_builder.build_sam3_image_model`` hard-codes its sizes and two CUDA-only caches (the sine
position encoding precomputed with ``device="cuda"`` in ``sam3/model/position_encoding.py`` and the
decoder's box coordinates with ``device="cuda"`` in ``sam3/model/decoder.py``), so it fails on a machine
without an NVIDIA driver. :func:`build_sam3_model` builds the same modules from the package's own classes
with the builder's arguments, sizes read from a :class:`Sam3Config`, and those two caches left to fill
lazily on the model's device (they are caches only: same outputs). The published model is
:data:`PRESETS` ``["sam3"]``; :data:`TINY` is a few-layer one for tests through the same loader.

:func:`load_sam3` reads an official ``sam3.pt`` already loaded with ``torch.load(weights_only=True)``: the
``detector.*`` weights are the image model; ``tracker.*`` (video memory and the SAM-1-task head) and the
detector neck's ``sam2_convs`` (that head's features) are left out, as this model answers concept
prompts (text, boxes, points) only. The rest loads strictly, except the ViT's RoPE frequencies
(``freqs_cis`` buffers, computed from the sizes), which are kept as built where a checkpoint lacks them.

The text encoder's BPE vocabulary (``bpe_simple_vocab_16e6.txt.gz``, not in the ``sam3`` wheel) is the
CLIP one; :func:`bpe_path` takes it from ``open_clip`` (or ``$FARMANNOT_SAM3_BPE``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from farmannot.errors import InputError

#: Environment variable naming the CLIP BPE vocabulary file when ``open_clip`` is not installed.
BPE_ENV = "FARMANNOT_SAM3_BPE"
_BPE_NAME = "bpe_simple_vocab_16e6.txt.gz"


@dataclass(frozen=True)
class Sam3Config:
    """Sizes of a SAM 3 image model (defaults: the published one, as ``sam3.model_builder`` builds it)."""

    name: str = "sam3"
    image_size: int = 1008
    vit_dim: int = 1024
    vit_depth: int = 32
    vit_heads: int = 16
    vit_mlp_ratio: float = 4.625
    vit_window: int = 24
    vit_global_blocks: tuple[int, ...] = (7, 15, 23, 31)
    vit_pretrain_size: int = 336
    d_model: int = 256
    heads: int = 8
    ffn: int = 2048
    encoder_layers: int = 6
    decoder_layers: int = 6
    geometry_layers: int = 3
    queries: int = 200
    text_width: int = 1024
    text_heads: int = 16
    text_layers: int = 24

    def to_dict(self) -> dict:
        d = asdict(self)
        d["vit_global_blocks"] = list(self.vit_global_blocks)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Sam3Config:
        names = {f.name for f in fields(cls)}
        if not set(d) <= names or "name" not in d:
            raise ValueError(f"not a SAM 3 configuration: {sorted(set(d) - names)}")
        return cls(**{**d, "vit_global_blocks": tuple(d.get("vit_global_blocks", ()))})


PRESETS: dict[str, Sam3Config] = {"sam3": Sam3Config()}

#: A tiny SAM 3 for tests: 2-block ViT of 32 channels on 112 px, 32-wide transformer and text encoder.
TINY = Sam3Config("sam3-test", image_size=112, vit_dim=32, vit_depth=2, vit_heads=2, vit_mlp_ratio=2.0,
                  vit_window=4, vit_global_blocks=(1,), vit_pretrain_size=56, d_model=32, heads=2, ffn=64,
                  encoder_layers=1, decoder_layers=1, geometry_layers=1, queries=8, text_width=32, text_heads=2,
                  text_layers=1)


def bpe_path() -> str:
    """The CLIP BPE vocabulary SAM 3's tokenizer reads: ``$FARMANNOT_SAM3_BPE``, else open_clip's copy."""
    env = os.environ.get(BPE_ENV)
    if env:
        return env
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    path = Path(spec.origin).parent / _BPE_NAME if spec and spec.origin else None
    if path is None or not path.is_file():
        raise InputError(f"SAM 3 needs the CLIP vocabulary {_BPE_NAME}: pip install open_clip_torch, or set "
                         f"{BPE_ENV} to the file.")
    return str(path)


def build_sam3_model(config: Sam3Config = PRESETS["sam3"]):
    """A ``sam3.model.sam3_image.Sam3Image`` of ``config`` on the CPU (random weights, eval mode).

    The arguments are ``sam3.model_builder``'s (``build_sam3_image_model(enable_inst_interactivity=False)``)
    with sizes from ``config`` and the CUDA-only caches left lazy.
    """
    import warnings

    import torch.nn as nn

    with warnings.catch_warnings():  # import-time notes of sam3: autocast off without CUDA, torch.jit.script
        warnings.filterwarnings("ignore", "CUDA is not available", UserWarning)
        warnings.filterwarnings("ignore", r"`torch\.jit\.script` is deprecated", FutureWarning)
        import sam3  # noqa: F401
    from sam3.model.decoder import TransformerDecoder, TransformerDecoderLayer
    from sam3.model.encoder import TransformerEncoderFusion, TransformerEncoderLayer
    from sam3.model.geometry_encoders import SequenceGeometryEncoder
    from sam3.model.maskformer_segmentation import PixelDecoder, UniversalSegmentationHead
    from sam3.model.model_misc import MLP, DotProductScoring, TransformerWrapper
    from sam3.model.model_misc import MultiheadAttentionWrapper as MHA
    from sam3.model.necks import Sam3DualViTDetNeck
    from sam3.model.position_encoding import PositionEmbeddingSine
    from sam3.model.sam3_image import Sam3Image
    from sam3.model.text_encoder_ve import VETextEncoder
    from sam3.model.tokenizer_ve import SimpleTokenizer
    from sam3.model.vitdet import ViT
    from sam3.model.vl_combiner import SAM3VLBackbone

    c, d = config, config.d_model

    def pos_enc():
        return PositionEmbeddingSine(num_pos_feats=d, normalize=True, scale=None, temperature=10000)

    def mha(batch_first, dropout=0.1):
        return MHA(num_heads=c.heads, dropout=dropout, embed_dim=d, batch_first=batch_first)

    def enc_layer(**kw):
        return TransformerEncoderLayer(activation="relu", d_model=d, dim_feedforward=c.ffn, dropout=0.1,
                                       pre_norm=True, **kw)

    vit = ViT(img_size=c.image_size, pretrain_img_size=c.vit_pretrain_size, patch_size=14, embed_dim=c.vit_dim,
              depth=c.vit_depth, num_heads=c.vit_heads, mlp_ratio=c.vit_mlp_ratio, norm_layer="LayerNorm",
              drop_path_rate=0.1, qkv_bias=True, use_abs_pos=True, tile_abs_pos=True,
              global_att_blocks=c.vit_global_blocks, rel_pos_blocks=(), use_rope=True, use_interp_rope=True,
              window_size=c.vit_window, pretrain_use_cls_token=True, retain_cls_token=False, ln_pre=True,
              ln_post=False, return_interm_layers=False, bias_patch_embed=False)
    neck = Sam3DualViTDetNeck(position_encoding=pos_enc(), d_model=d, scale_factors=[4.0, 2.0, 1.0, 0.5],
                              trunk=vit, add_sam2_neck=False)
    text = VETextEncoder(tokenizer=SimpleTokenizer(bpe_path=bpe_path()), d_model=d, width=c.text_width,
                         heads=c.text_heads, layers=c.text_layers)
    encoder = TransformerEncoderFusion(
        layer=enc_layer(pos_enc_at_attn=True, pos_enc_at_cross_attn_keys=False, pos_enc_at_cross_attn_queries=False,
                        self_attention=mha(True), cross_attention=mha(True)),
        num_layers=c.encoder_layers, d_model=d, num_feature_levels=1, frozen=False, use_act_checkpoint=True,
        add_pooled_text_to_img_feat=False, pool_text_with_mask=True)
    decoder = TransformerDecoder(
        layer=TransformerDecoderLayer(activation="relu", d_model=d, dim_feedforward=c.ffn, dropout=0.1,
                                      cross_attention=mha(False), n_heads=c.heads, use_text_cross_attention=True),
        num_layers=c.decoder_layers, num_queries=c.queries, return_intermediate=True, box_refine=True,
        num_o2m_queries=0, dac=True, boxRPB="log", d_model=d, frozen=False, interaction_layer=None,
        dac_use_selfatt_ln=True, resolution=None, stride=None, use_act_checkpoint=True, presence_token=True)
    scoring = DotProductScoring(d_model=d, d_proj=d, prompt_mlp=MLP(
        input_dim=d, hidden_dim=c.ffn, output_dim=d, num_layers=2, dropout=0.1, residual=True,
        out_norm=nn.LayerNorm(d)))
    seg_head = UniversalSegmentationHead(
        hidden_dim=d, upsampling_stages=3, aux_masks=False, presence_head=False, dot_product_scorer=None,
        act_ckpt=True, cross_attend_prompt=mha(False, dropout=0),
        pixel_decoder=PixelDecoder(num_upsampling_stages=3, interpolation_mode="nearest", hidden_dim=d))
    geometry = SequenceGeometryEncoder(
        pos_enc=pos_enc(), encode_boxes_as_points=False, points_direct_project=True, points_pool=True,
        points_pos_enc=True, boxes_direct_project=True, boxes_pool=True, boxes_pos_enc=True, d_model=d,
        num_layers=c.geometry_layers, use_act_ckpt=True, add_cls=True, add_post_encode_proj=True,
        layer=enc_layer(pos_enc_at_attn=False, pos_enc_at_cross_attn_queries=False, pos_enc_at_cross_attn_keys=True,
                        self_attention=mha(False), cross_attention=mha(False)))
    model = Sam3Image(backbone=SAM3VLBackbone(visual=neck, text=text, scalp=1),
                      transformer=TransformerWrapper(encoder=encoder, decoder=decoder, d_model=d),
                      input_geometry_encoder=geometry, segmentation_head=seg_head, num_feature_levels=1,
                      o2m_mask_predict=True, dot_prod_scoring=scoring, use_instance_query=False,
                      multimask_output=True, inst_interactive_predictor=None, matcher=None)
    model.eval()
    model.farmannot_config = config  # the backend reads the input size off it
    return model


def cpu_safe():
    """A context in which ``Tensor.pin_memory()`` returns the tensor itself.

    ``sam3/model/geometry_encoders.py`` (``SequenceGeometryEncoder._encode_boxes``) pins a 4-element tensor
    on every prompt, boxes or not; without an NVIDIA driver ``pin_memory`` raises. Pinning only speeds up a
    host-to-GPU copy, so for a model on the CPU it is skipped: a torch function mode, active in this thread
    only and only inside the ``with`` block.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    class _NoPinning(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func is torch.Tensor.pin_memory:
                return args[0]
            return func(*args, **(kwargs or {}))

    return _NoPinning()


def _build_random(config: Sam3Config):
    """:func:`build_sam3_model` with the two text-encoder tensors ``sam3`` leaves as ``torch.empty`` (its
    checkpoint fills them) initialised as open_clip's ``TextTransformer.init_parameters`` does."""
    import torch

    model = build_sam3_model(config)
    text = model.backbone.language_backbone.encoder
    with torch.no_grad():
        torch.nn.init.normal_(text.positional_embedding, std=0.01)
        torch.nn.init.normal_(text.text_projection, std=text.width ** -0.5)
    return model


def random_sam3(config: Sam3Config = TINY, seed: int = 0):
    """A randomly initialised SAM 3 (deterministic for a seed): tests and benchmarks."""
    from farmannot.sam.model import seeded

    return seeded(_build_random, config, seed)


def is_sam3_state(state: dict) -> bool:
    return any(k.startswith("detector.backbone.vision_backbone.") for k in state)


def detector_state(state: dict) -> dict:
    """The image model's weights of an official ``sam3.pt`` state: ``detector.*`` without the prefix, less
    the neck's ``sam2_convs`` (features of the SAM-1-task head, which is not built here)."""
    return {k[len("detector."):]: v for k, v in state.items()
            if k.startswith("detector.") and not k.startswith("detector.backbone.vision_backbone.sam2_convs.")}


def load_sam3(path: Path, obj: dict, model_name: str | None = None, device: str = "cpu"):
    """Build and load a SAM 3 checkpoint already read by ``torch.load(weights_only=True)``; ``(model, config)``."""
    state = obj["model"] if isinstance(obj.get("model"), dict) else obj
    recorded = obj.get("farmannot_config")
    try:
        config = Sam3Config.from_dict(recorded) if isinstance(recorded, dict) else PRESETS["sam3"]
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: {exc}; give the official SAM 3 checkpoint sam3.pt.") from None
    if model_name is not None and model_name != config.name:
        raise InputError(f"{path}: holds {config.name}, not {model_name}; drop --sam-model or give the matching "
                         "checkpoint.")
    from farmannot.sam.model import load_weights

    model = build_sam3_model(config)
    weights = detector_state(state)
    for name, value in model.state_dict().items():  # buffers computed from the sizes (the ViT's RoPE
        if name.endswith(".freqs_cis"):              # frequencies): kept as built when a checkpoint lacks them
            weights.setdefault(name, value)
    try:
        model = load_weights(model, weights, path, config.name)
    except RuntimeError as exc:  # a tensor of another shape
        detail = str(exc).splitlines()[-1].strip().rstrip(".")
        raise InputError(f"{path}: weights do not fit {config.name} ({detail}).") from None
    return model.to(device), config


def save_sam3_checkpoint(model, config: Sam3Config, path: str | os.PathLike) -> Path:
    """Write ``model`` in the official layout (``{"model": {"detector.<name>": tensor}}``) plus its
    configuration (atomic)."""
    import torch

    from farmannot.io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"model": {f"detector.{k}": v.detach().cpu() for k, v in model.state_dict().items()},
                    "farmannot_config": config.to_dict()}, tmp)
    return path
