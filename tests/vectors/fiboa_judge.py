"""fiboa-cli's own validator (what ``fiboa validate FILE`` runs), offline.

``fiboa_cli.validate.ValidateData.validate`` is the function behind the ``fiboa validate`` command of
fiboa-cli 0.21. It downloads the fiboa and Vecorel specification schemas, the GeoParquet metadata schema and
the PROJJSON schema that one refers to; here they come from ``tests/data/fiboa`` (see its README) and from
pyproj's PROJ data folder, and any other download raises.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyproj.datadir
import referencing
import referencing.jsonschema
import vecorel_cli.vecorel.util as vecorel_util
from fiboa_cli.validate import ValidateData
from vecorel_cli import validate_schema

DATA = Path(__file__).resolve().parents[1] / "data" / "fiboa"
SCHEMA_MAP = {
    "https://fiboa.org/specification/v0.3.0/schema.yaml": str(DATA / "fiboa-specification-v0.3.0.schema.yaml"),
    "https://vecorel.org/specification/v0.1.0/schema.yaml": str(DATA / "vecorel-specification-v0.1.0.schema.yaml"),
}
GEOPARQUET_URL = "https://geoparquet.org/releases/v1.1.0/schema.json"


class _NoNetwork:
    def __init__(self, *args, **kwargs):
        raise AssertionError("fiboa-cli tried to download a file the offline test does not provide")


def offline(monkeypatch) -> None:
    """Route every download of the validator to the bundled copies; anything else fails the test."""
    monkeypatch.setattr(vecorel_util, "HTTPFileSystem", _NoNetwork)
    monkeypatch.setitem(vecorel_util.file_cache, GEOPARQUET_URL,
                        json.loads((DATA / "geoparquet-v1.1.0.schema.json").read_text(encoding="utf-8")))
    projjson = json.loads((Path(pyproj.datadir.get_data_dir()) / "projjson.schema.json").read_text("utf-8"))

    def retrieve(uri: str):
        if uri != projjson["$id"]:
            raise AssertionError(f"fiboa-cli tried to download {uri}")
        return referencing.Resource.from_contents(projjson, default_specification=referencing.jsonschema.DRAFT202012)

    monkeypatch.setattr(validate_schema.ValidateSchema, "retrieve_remote_schema", staticmethod(retrieve))


def fiboa_validate(path, monkeypatch):
    """fiboa-cli's validator over every row of ``path``; returns it (``is_valid()``, ``errors``, ``warnings``)."""
    offline(monkeypatch)
    return ValidateData().validate(path, num=None, schema_map=SCHEMA_MAP)
