"""Tile windows over a scene: full-size tiles that cover it, the last row and column shifted inside."""

from __future__ import annotations

from rasterio.windows import Window


def tile_offsets(length: int, tile: int, overlap: int = 0) -> list[int]:
    """Start offsets of tiles of ``tile`` px with ``overlap`` px over a line of ``length`` px.

    Tiles never leave the scene: the last one is shifted back so it ends at the edge (it then overlaps
    its neighbour more). A scene shorter than a tile gets one tile from 0 (clipped to the scene).
    """
    if tile <= 0:
        raise ValueError("tile must be positive")
    if not 0 <= overlap < tile:
        raise ValueError("overlap must be in [0, tile)")
    if length <= tile:
        return [0]
    stride = tile - overlap
    offs = list(range(0, length - tile + 1, stride))
    if offs[-1] + tile < length:
        offs.append(length - tile)
    return offs


def tile_windows(width: int, height: int, tile: int, overlap: int = 0) -> list[Window]:
    """Windows (row-major) of ``tile`` x ``tile`` px covering a ``width`` x ``height`` scene."""
    return [
        Window(col, row, min(tile, width - col), min(tile, height - row))
        for row in tile_offsets(height, tile, overlap)
        for col in tile_offsets(width, tile, overlap)
    ]
