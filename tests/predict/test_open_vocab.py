"""Open-vocabulary class maps from a frozen CLIP: templates averaged, positions interpolated, one map per class."""

import numpy as np
import pytest
import rasterio
import torch
from click.testing import CliRunner
from rasterio.transform import from_origin

from farmannot.cli.main import cli
from farmannot.errors import InputError
from farmannot.train.models.open_vocab import OpenVocabularySegmenter, interpolate_positions, load_clip, vild_templates


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    """A tiny open_clip CLIP (ViT image tower, 64 px, patch 16) saved as a state dict."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(3)
    model = CLIP(32, CLIPVisionCfg(layers=2, width=64, patch_size=16, image_size=64, head_width=64),
                 CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1, layers=1))
    path = tmp_path_factory.mktemp("clip") / "tiny-clip.pt"
    torch.save(model.state_dict(), path)
    return path, model.eval()


def test_checkpoint_loads_into_the_clip_its_shapes_describe(clip_file):
    path, ref = clip_file
    clip = load_clip(path)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(clip.encode_image(x), ref.encode_image(x), atol=1e-6)
    with pytest.raises(InputError, match="ViT image tower"):
        load_clip(_text_only(path))


def _text_only(path):
    state = {k: v for k, v in torch.load(path, weights_only=True).items() if not k.startswith("visual.")}
    out = path.parent / "text-only.pt"
    torch.save(state, out)
    return out


def test_class_embeddings_average_the_fourteen_vild_templates(clip_file):
    import open_clip

    path, ref = clip_file
    templates = vild_templates()
    assert len(templates) == 14 and templates[0] == "a photo of a {}." and templates[-1].endswith("in the scene.")
    seg = OpenVocabularySegmenter(load_clip(path), ["farmland", "water"])
    with torch.no_grad():
        for i, name in enumerate(["farmland", "water"]):
            e = torch.nn.functional.normalize(ref.encode_text(open_clip.tokenize([t.format(name) for t in templates])),
                                              dim=-1).mean(0)
            assert torch.allclose(seg.text[i], e / e.norm(), atol=1e-5)


def test_positions_are_interpolated_for_other_tile_sizes(clip_file):
    path, ref = clip_file
    seg = OpenVocabularySegmenter(load_clip(path), ["farmland"])
    pos = ref.visual.positional_embedding
    assert torch.equal(interpolate_positions(pos, (4, 4)), pos)  # native 64 px = 4 x 4 patches
    wide = interpolate_positions(pos, (6, 8))
    assert wide.shape == (1 + 48, 64) and torch.equal(wide[0], pos[0])  # class position kept
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 64)
        assert torch.allclose(seg.embeds(x), ref.visual._embeds(x), atol=1e-6)
        probs = seg(torch.randn(2, 3, 96, 130))  # not a multiple of the patch: padded, cropped back
    assert probs.shape == (2, 1, 96, 130) and torch.allclose(probs, torch.ones_like(probs))


def test_cli_writes_one_probability_band_per_class(clip_file, tmp_path):
    path, _ = clip_file
    scene = tmp_path / "scene.tif"
    rng = np.random.default_rng(0)
    with rasterio.open(scene, "w", driver="GTiff", width=150, height=110, count=3, dtype="uint8",
                       crs="EPSG:32650", transform=from_origin(500000, 4000000, 2, 2)) as ds:
        ds.write(rng.integers(0, 255, (3, 110, 150), dtype=np.uint8))
    out = tmp_path / "classes.tif"
    r = CliRunner().invoke(cli, ["predict", str(path), str(scene), "-o", str(out), "--classes",
                                 "farmland, terrace ,water", "--patch", "64", "--overlap", "16", "--no-progress"])
    assert r.exit_code == 0, r.output
    with rasterio.open(out) as ds:
        assert ds.descriptions == ("farmland", "terrace", "water", "class")
        assert ds.crs.to_epsg() == 32650 and (ds.width, ds.height) == (150, 110)
        probs, cls = ds.read([1, 2, 3]), ds.read(4)
    assert np.allclose(probs.sum(axis=0), 1, atol=1e-4)
    assert np.array_equal(cls, probs.argmax(axis=0) + 1)
    assert probs.std(axis=(1, 2)).max() > 0  # the maps vary over the scene
