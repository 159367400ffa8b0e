"""The block cache a scene's windowed reads need (``io.raster.read_cache_mb``), from the raster's block layout
(files written sparse: only the header is read), against sizes worked out by hand."""

from __future__ import annotations

import pytest
import rasterio

from farmannot.io.raster import read_cache_mb


def sparse(path, width, height, count, dtype, **layout):
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype=dtype,
                       sparse_ok=True, **layout):
        pass
    return path


@pytest.mark.parametrize("width, height, count, dtype, layout, expected", [
    # 256 px blocks, 4 x uint16 (8 B/px), reads of 768 x 256 px: a row of blocks across (4,096 x 256 px) beats
    # the unit's blocks (1,024 x 512 px): 4,096 * 256 * 8 * 1.5 = 12 MiB
    (4096, 512, 4, "uint16", {"tiled": True, "blockxsize": 256, "blockysize": 256}, 12),
    # the same reads of a 2,048 px wide raster: the unit's blocks (1,024 x 512 px) and a row of blocks across
    # (2,048 x 256 px) tie: 524,288 * 8 * 1.5 = 6 MiB, raised to the 8 MB floor
    (2048, 1024, 4, "uint16", {"tiled": True, "blockxsize": 256, "blockysize": 256}, 8),
    # 1,024 px blocks, 6 x uint16 (12 B/px): a row of blocks across is 12,288 x 1,024 px * 12 * 1.5 = 216 MiB,
    # capped at 48 MB
    (12288, 4096, 6, "uint16", {"tiled": True, "blockxsize": 1024, "blockysize": 1024}, 48),
    # 512 px blocks, 3 x float32 (12 B/px) on a 3,000 px wide raster: (ceil(768 / 512) + 1) * 512 = 1,536 px
    # across, (1 + 1) * 512 = 1,024 px down: 1,536 * 1,024 = 1,572,864 px against a row of blocks 3,000 * 512 =
    # 1,536,000 px; 1,572,864 * 12 * 1.5 = 27 MiB
    (3000, 3000, 3, "float32", {"tiled": True, "blockxsize": 512, "blockysize": 512}, 27),
])
def test_read_cache_mb_from_the_block_layout(tmp_path, width, height, count, dtype, layout, expected):
    path = sparse(tmp_path / "s.tif", width, height, count, dtype, **layout)
    with rasterio.open(path) as src:
        assert src.block_shapes[0] == (layout["blockysize"], layout["blockxsize"])
        assert read_cache_mb(src, 768, 256) == expected
