"""Tile windows over a scene: full-size tiles that cover it, the last row and column shifted inside."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rasterio.windows import Window

#: Default tile edge in pixels of a dataset and of per-tile outputs (``build-dataset``, ``prompts``).
TILE_SIZE = 512


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
    from rasterio.windows import Window  # here, so the CLI's options (TILE_SIZE) load without rasterio
    return [
        Window(col, row, min(tile, width - col), min(tile, height - row))
        for row in tile_offsets(height, tile, overlap)
        for col in tile_offsets(width, tile, overlap)
    ]


def window_block(row_off: int, col_off: int, tile: int, block_tiles: int) -> tuple[int, int]:
    """Spatial block ``(block_row, block_col)`` of a tile at ``(row_off, col_off)``: blocks of
    ``block_tiles`` x ``block_tiles`` tiles of ``tile`` px from the scene's origin.

    With no overlap a shifted last tile stays in the block of the tile it overlaps (it starts after the last
    full tile, and a block edge is a multiple of the tile), so tiles of different blocks never share a pixel.
    """
    if tile <= 0 or block_tiles <= 0:
        raise ValueError("tile and block_tiles must be positive")
    edge = tile * block_tiles
    return int(row_off) // edge, int(col_off) // edge
