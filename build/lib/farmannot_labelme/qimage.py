"""Pixels between numpy and Qt, in true RGB order (labelme's own helper returns BGRA on little-endian)."""

from __future__ import annotations

import numpy as np
from PyQt5 import QtGui


def qimage_to_rgb(image: QtGui.QImage) -> np.ndarray:
    """``(rows, cols, 3)`` uint8 RGB copy of ``image`` (any format)."""
    img = image.convertToFormat(QtGui.QImage.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits().asstring(bpl * h), dtype=np.uint8).reshape(h, bpl)
    return np.ascontiguousarray(buf[:, : w * 3].reshape(h, w, 3))


def rgb_to_qimage(rgb: np.ndarray) -> QtGui.QImage:
    """A QImage that owns a copy of ``rgb`` (``(rows, cols, 3)`` uint8)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    return QtGui.QImage(rgb.data, w, h, 3 * w, QtGui.QImage.Format_RGB888).copy()


def png_bytes(rgb: np.ndarray) -> bytes:
    """Lossless PNG of ``rgb`` (what labelme keeps as the image's bytes)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
