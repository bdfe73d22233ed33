"""``validate_document()``: check a ``KEY.json`` object against the contract.

Structure is checked with the JSON Schema in ``document.schema.json`` (the same file other
languages use); the rules JSON Schema cannot express (image indices, segment references,
member names) are checked here. Every problem names the field it is about.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema

from schemas.assessment import Assessment


class DocumentError(ValueError):
    """A document breaks the contract; the message lists each field and its problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@lru_cache(maxsize=1)
def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``KEY.json``."""
    return json.loads(resources.files("schemas").joinpath("document.schema.json").read_text())


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    schema = json_schema()
    return jsonschema.validators.validator_for(schema)(schema)


def _path(error: jsonschema.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def document_problems(doc: dict[str, Any]) -> list[str]:
    """Every way ``doc`` breaks the contract, as ``"field: problem"`` strings (empty when valid)."""
    if not isinstance(doc, dict):
        return [f"(document): expected a JSON object, got {type(doc).__name__}"]
    problems = [f"{_path(e)}: {e.message}" for e in _validator().iter_errors(doc)]
    if problems:
        return problems
    images = doc["images"]
    for i, image in enumerate(images):
        if image["index"] != i:
            problems.append(f"images[{i}].index: is {image['index']}, must equal its position {i}")
        if image["status"] == "ok" and not image.get("member"):
            problems.append(f"images[{i}].member: an image with status ok must name its member")
        if image.get("member") and not image["member"].startswith(f"{doc['id']}.{i}."):
            problems.append(f"images[{i}].member: {image['member']!r} must start with '{doc['id']}.{i}.'")
        if image["status"] == "failed" and not image.get("error"):
            problems.append(f"images[{i}].error: a failed image must say why")
    for j, seg in enumerate(doc["segments"]):
        if seg["type"] == "image" and seg["image"] >= len(images):
            problems.append(f"segments[{j}].image: refers to image {seg['image']}, but there are {len(images)}")
    if doc.get("assessment") is not None:
        if doc["source"]["kind"] != "generated":
            problems.append(f"assessment: only generated documents carry one; this one's source is "
                            f"{doc['source']['kind']}")
        try:
            Assessment.from_json(doc["assessment"])
        except ValueError as exc:
            problems.append(f"assessment: {exc}")
    return problems


def validate_document(doc: dict[str, Any]) -> None:
    """Raise ``DocumentError`` naming each field and problem when ``doc`` breaks the contract."""
    problems = document_problems(doc)
    if problems:
        raise DocumentError(problems)
