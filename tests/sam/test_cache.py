"""Cache keys from explicit inputs; entries round-trip exactly; damaged entries are misses."""

from __future__ import annotations

import numpy as np

from farmannot.sam.cache import Embedding, EmbeddingCache, cache_key, image_digest


def test_cache_key_explicit_inputs():
    a = cache_key(image="abc", model="m1", input=1024)
    assert a == cache_key(model="m1", input=1024, image="abc")  # order does not matter
    assert len(a) == 64
    assert a != cache_key(image="abc", model="m2", input=1024)
    assert a != cache_key(image="abc", model="m1", input=256)
    # scene-scale parts are just more named inputs
    chip = dict(scene="s", window=[0, 0, 1024, 1024], bands=[3, 2, 1], stretch={"low": [1.0], "high": [2.0]}, model="m")
    assert cache_key(**chip) != cache_key(**{**chip, "window": [0, 1024, 1024, 1024]})
    assert cache_key(**chip) == cache_key(**{**chip, "stretch": {"high": [2.0], "low": [1.0 + 1e-12]}})


def test_image_digest_sees_pixels_and_shape():
    img = np.zeros((4, 6, 3), np.uint8)
    d = image_digest(img)
    img2 = img.copy()
    img2[3, 5, 2] = 1
    assert image_digest(img2) != d
    assert image_digest(img.reshape(6, 4, 3)) != d
    assert image_digest(img[:, ::1]) == d


def test_put_get_roundtrip_and_damage(tmp_path):
    cache = EmbeddingCache(tmp_path)
    emb = Embedding(np.random.default_rng(0).random((256, 16, 16)).astype(np.float32), (200, 300), (171, 256))
    key = cache_key(image="x", model="y")
    assert cache.get(key) is None and key not in cache
    path = cache.put(key, emb, {"image": "x", "model": "y"})
    assert path.is_file() and path.parent.name == key[:2]
    fresh = EmbeddingCache(tmp_path)  # a new process: disk only
    got = fresh.get(key)
    np.testing.assert_array_equal(got.features, emb.features)
    assert got.original_size == (200, 300) and got.input_size == (171, 256)
    path.write_bytes(b"garbage")
    assert EmbeddingCache(tmp_path).get(key) is None


def test_memory_only_cache_writes_nothing(tmp_path):
    cache = EmbeddingCache(tmp_path, memory_items=1, disk=False)
    emb = Embedding(np.zeros((256, 4, 4), np.float32), (10, 10), (16, 16))
    cache.put("a" * 64, emb)
    assert cache.get("a" * 64) is emb and ("a" * 64) in cache
    cache.put("b" * 64, emb)  # evicts the first (one item in memory)
    assert cache.get("a" * 64) is None
    assert not any(tmp_path.iterdir())
