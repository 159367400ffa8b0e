"""A labelme annotation read as a stream: the shapes handed over in batches, never all held at once.

:func:`farmannot.io.labelme_json.load_annotation` parses the whole file into Python objects: for a scene of
50,000 shapes that is several hundred MB, several times the file. :func:`stream_annotation` reads the file a
window of text at a time, decodes the top-level values with the standard library's JSON decoder one by one and
the ``shapes`` array element by element, and hands the shapes to a callback in batches (validated as
``load_annotation`` validates them); memory is one batch plus the window of text. Without a callback the
shapes are only decoded to check the JSON and dropped (the header: ``imagePath``, size, farmannot's data).
Both paths raise the same one-line :class:`InputError` messages as ``load_annotation``.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from farmannot.errors import InputError
from farmannot.io.labelme_json import (
    ANNOTATION_MASK_PIXELS_ENV,
    Annotation,
    Shape,
    _load_shape,
    annotation_from_dict,
    mask_pixel_limits,
    reading_annotation,
    resolve_image_path,
)

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
CHUNK_CHARS = 1 << 20
BATCH = 1024


class _Text:
    """A JSON document read a window at a time, decoded value by value with the standard decoder."""

    def __init__(self, fh: TextIO, chunk: int = CHUNK_CHARS) -> None:
        self.fh, self.chunk = fh, chunk
        self.buf, self.pos, self.base, self.eof = "", 0, 0, False

    def _more(self) -> bool:
        if self.eof:
            return False
        if self.pos:  # drop what was decoded
            self.base += self.pos
            self.buf, self.pos = self.buf[self.pos:], 0
        data = self.fh.read(max(self.chunk, len(self.buf)))  # doubling: a long value costs O(log) retries
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def error(self, msg: str, pos: int | None = None) -> json.JSONDecodeError:
        return json.JSONDecodeError(f"{msg} at char {self.base + (self.pos if pos is None else pos)}", "", 0)

    def peek(self) -> str:
        """The next non-blank character (not consumed), ``""`` at the end."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or not self._more():
                return self.buf[self.pos:self.pos + 1]

    def take(self, char: str) -> None:
        if self.peek() != char:
            raise self.error(f"Expecting {char!r}")
        self.pos += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                v, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self._more():
                    continue
                raise self.error(exc.msg, exc.pos) from None
            if end >= len(self.buf) and self._more():  # a number may go on in the next window
                continue
            self.pos = end
            return v


@contextlib.contextmanager
def _gc_paused():
    """Python's cyclic garbage collector off while a file is read: reading creates millions of small objects
    (no cycles) and the collections they set off took 30 % of reading and planning 13,216 shapes (measured,
    docs/BENCHMARKS.md)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _walk(text: _Text, on_shape: Callable[[Any], None]) -> Any:
    """The top-level object without its ``shapes`` (each element given to ``on_shape`` in file order); any
    other top-level value as it is."""
    if text.peek() != "{":
        v = text.value()
        if text.peek() != "":
            raise text.error("Extra data")
        return v
    text.pos += 1
    head: dict[str, Any] = {}
    if text.peek() == "}":
        text.pos += 1
    else:
        while True:
            key = text.value()
            if not isinstance(key, str):
                raise text.error("Expecting property name enclosed in double quotes")
            text.take(":")
            if key == "shapes" and text.peek() == "[":
                text.pos += 1
                head[key] = []
                if text.peek() == "]":
                    text.pos += 1
                else:
                    while True:
                        on_shape(text.value())
                        if text.peek() == "]":
                            text.pos += 1
                            break
                        text.take(",")
            else:
                head[key] = text.value()
            if text.peek() == "}":
                text.pos += 1
                break
            text.take(",")
    if text.peek() != "":
        raise text.error("Extra data")
    return head


def stream_annotation(path: str | os.PathLike, on_shapes: Callable[[list[Shape], int], None] | None = None, *,
                      project_dir: str | os.PathLike | None = None, max_image_data_bytes: int | None = 50_000_000,
                      batch: int = BATCH) -> Annotation:
    """Read a labelme JSON file as :func:`farmannot.io.labelme_json.load_annotation` does, streaming its shapes.

    Args:
        on_shapes: Called with each batch of validated shapes and the file index of the batch's first shape,
            in file order. ``None``: the shapes are decoded (the JSON checked) but neither validated nor kept.
        batch: Shapes per batch.

    Returns:
        The annotation without its shapes (``shapes == []``).

    Raises:
        InputError: as ``load_annotation`` (unreadable, invalid JSON, malformed shape, oversized data or masks,
            ``imagePath`` escaping ``project_dir``).
    """
    path = Path(path)
    source = str(path)
    pending: list[Any] = []
    state = {"first": 0, "mask_px": 0}
    limit = mask_pixel_limits()[1]

    def flush() -> None:
        shapes = []
        for k, obj in enumerate(pending):
            shape = _load_shape(obj, f"{source} shape {state['first'] + k}")
            state["mask_px"] += shape.mask.size if shape.mask is not None else 0
            if limit and state["mask_px"] > limit:
                raise InputError(f"{source}: its mask shapes decode to over {limit:,} pixels, the limit per "
                                 f"annotation; redraw large masks as polygons, or raise ${ANNOTATION_MASK_PIXELS_ENV}.")
            shapes.append(shape)
        on_shapes(shapes, state["first"])
        state["first"] += len(pending)
        pending.clear()

    def on_shape(obj: Any) -> None:
        if on_shapes is None:
            return
        pending.append(obj)
        if len(pending) >= batch:
            flush()

    with reading_annotation(path, max_image_data_bytes), open(path, encoding="utf-8") as fh, _gc_paused():
        head = _walk(_Text(fh), on_shape)
        if pending:
            flush()
    ann = annotation_from_dict(head, source=source, max_image_data_bytes=max_image_data_bytes)
    if project_dir is not None and ann.image_path:
        resolve_image_path(ann, path, project_dir=project_dir)
    return ann
