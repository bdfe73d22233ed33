"""The data contract shared by the engine and the trainer.

- ``config``: the one loader of YAML configs into typed dataclasses, and its ``ConfigError``.
- ``corpus``: the folders of a corpus on disk and which of its shards are committed.
- ``document``: the interleaved document (``KEY.json``), its parts, and ``read_document``.
- ``rejection``: rows of the ``rejected`` table.
- ``tables``: Arrow schemas of manifests, image tables and ``rejected``.
- ``token_layout``: the versioned layout of token ids.
- ``token_parts``: which parts of a document become tokens, in which order.
- ``validate``: ``validate_document()`` against ``document.schema.json``.
"""

from schemas.document import (
                              SCHEMA_VERSION,
                              Document,
                              ImageRecord,
                              RawPage,
                              Segment,
                              SourceRef,
                              canonical_url,
                              document_id,
                              read_document,
)
from schemas.rejection import Rejection
from schemas.token_layout import ImageCodes, TokenLayout
from schemas.validate import DocumentError, document_problems, validate_document

__all__ = [
    "SCHEMA_VERSION", "Document", "ImageRecord", "RawPage", "Segment", "SourceRef", "canonical_url",
    "document_id", "read_document", "Rejection", "ImageCodes", "TokenLayout", "DocumentError",
    "document_problems", "validate_document",
]
