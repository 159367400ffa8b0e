"""Checkpoint loading: a checkpoint the test writes comes back through load_sam with the same weights."""

from __future__ import annotations

import pickle

import pytest
import torch

from farmannot.errors import InputError
from farmannot.sam.model import (
    PRESETS,
    TINY,
    SamConfig,
    build_sam,
    checkpoint_id,
    infer_config,
    load_sam,
    save_checkpoint,
)


def test_tiny_checkpoint_roundtrip(tiny_sam, tiny_checkpoint):
    sam, config = load_sam(tiny_checkpoint)
    assert config == TINY and config.name == "tiny"
    assert sam.image_encoder.img_size == 256
    ref = tiny_sam.state_dict()
    got = sam.state_dict()
    assert set(ref) == set(got)
    for k in ref:
        assert torch.equal(ref[k], got[k]), k


def test_1024_config_goes_through_segment_anything_builder(tmp_path):
    cfg = SamConfig(32, 2, 2, (1,), img_size=1024)
    path = save_checkpoint(build_sam(cfg), tmp_path / "c.pth")
    sam, got = load_sam(path)
    assert got == cfg
    assert sam.prompt_encoder.image_embedding_size == (64, 64)


def test_infer_vit_b_config_from_weights():
    # the real ViT-B layout, built by segment-anything's own builder
    from segment_anything import sam_model_registry

    sd = sam_model_registry["vit_b"]().state_dict()
    assert infer_config(sd) == PRESETS["vit_b"]


def test_model_type_mismatch(tiny_checkpoint):
    with pytest.raises(InputError, match="not vit_b"):
        load_sam(tiny_checkpoint, model_type="vit_b")


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(InputError, match="--sam-checkpoint"):
        load_sam(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.pth"):
        load_sam(junk)
    other = tmp_path / "other.pth"
    torch.save({"w": torch.zeros(2)}, other)
    with pytest.raises(InputError, match="not a segment-anything"):
        load_sam(other)


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickled_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"x": _Evil()}, fh)
    with pytest.raises(InputError):
        load_sam(path)
    assert "code ran" not in capsys.readouterr().out


def test_checkpoint_id_is_content_hash(tmp_path, tiny_checkpoint):
    import hashlib

    assert checkpoint_id(tiny_checkpoint) == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    copy = tmp_path / "copy.pth"
    copy.write_bytes(tiny_checkpoint.read_bytes())
    assert checkpoint_id(copy) == checkpoint_id(tiny_checkpoint)
