"""The corpus catalog: DuckDB views over manifests and tables (``Catalog``), and ``validate_corpus``.

Command module: ``commands`` (``dataengine sql`` and ``dataengine validate``).
Names are imported on first use, so loading the command modules (``dataengine --help``) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "VIEWS": "dataengine.catalog.catalog", "Catalog": "dataengine.catalog.catalog",
    "QueryResult": "dataengine.catalog.catalog", "ReadOnlyError": "dataengine.catalog.catalog",
    "AccessError": "dataengine.catalog.catalog",
    "check_read_only": "dataengine.catalog.catalog", "validate_corpus": "dataengine.catalog.validate",
    "CorpusError": "dataengine.shards.layout",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
