"""A ``rejected`` row: one thing a stage removed, and why.

Nothing leaves the pipeline without a row here. ``level`` says what was removed: a whole
document, a text block of it, or one of its images (``image_index`` then names it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

LEVELS = ("document", "text", "image")
MAX_DETAIL = 2000  # a detail explains a row; input quoted whole (a 1 GiB "line") would be the row's bulk


@dataclass
class Rejection:
    """One removal: what (id, url, level), by whom (stage), why (reason, value vs threshold).

    ``detail`` is cut to ``MAX_DETAIL`` characters.
    """

    id: str | None
    url: str | None
    level: str
    stage: str
    reason: str
    value: float | None = None
    threshold: float | None = None
    image_index: int | None = None
    detail: str | None = None
    partition: str | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"rejection level must be one of {LEVELS}, got {self.level!r}")
        if self.detail is not None and len(self.detail) > MAX_DETAIL:
            self.detail = self.detail[: MAX_DETAIL - 1] + "…"

    def to_row(self) -> dict[str, Any]:
        """Return the row as written to ``rejected/*.parquet``."""
        return asdict(self)
