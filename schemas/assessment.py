"""The assessment of a generated candidate: what the self-generation loop records in ``KEY.json``.

An alignment sample is a document of source kind ``generated`` whose ``assessment`` says
where it came from and what the judges made of it:

- the prompt (``prompt``, ``prompt_id``, and ``spec``: the scene it asks for when the prompt
  is a scene of the sample web), the ``mode`` (``text_to_image``, ``caption``, ``interleaved``);
- how it was drawn: ``round``, ``checkpoint``, ``candidate`` (its index among the prompt's N),
  ``seed`` and ``sampling`` (temperature, top-k, guidance);
- ``judgements``: one per judge that scored it (``Judgement``: judge name and version, score,
  pass/fail, per-aspect scores and notes);
- what selection made of it: ``role`` (``chosen`` for fine-tuning, ``rejected`` for the losing
  side of a preference pair, ``assessment`` for a document that teaches the model to assess),
  ``selected_by`` (the judge selection followed) and ``pair`` (the id of the other side of
  its preference pair).

``Assessment.from_json`` validates the JSON form; ``schemas.validate`` calls it on every
document that has an assessment. The yes/no questions of self-assessment and the text of
assessment documents are defined here too, so that the documents the engine writes and
the questions the trainer's model answers are the same strings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from schemas.scenes import Scene, SceneObject

ASSESSMENT_VERSION = 1
MODES = ("text_to_image", "caption", "interleaved")
ROLES = ("candidate", "chosen", "rejected", "assessment")
ASPECTS = ("colour", "count", "position", "shape")
ANSWERS = (" yes", " no")
_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}


@dataclass
class Judgement:
    """One judge's verdict on a candidate: ``score`` (higher is better), ``passed`` (None: no verdict).

    ``aspects`` holds per-aspect scores in [0, 1] (or p(yes) - p(no) in [-1, 1] for the
    model's own assessment), ``notes`` a short text per aspect (``"three drawn, two asked"``),
    ``extra`` any further figures (``prompt_logprob``).
    """

    judge: str
    version: str
    score: float
    passed: bool | None
    aspects: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Judgement:
        """Parse and check one judgement."""
        if not isinstance(obj, dict):
            raise ValueError(f"a judgement must be an object, got {type(obj).__name__}")
        try:
            out = cls(str(obj["judge"]), str(obj["version"]), float(obj["score"]), obj.get("passed"),
                      {str(k): float(v) for k, v in (obj.get("aspects") or {}).items()},
                      {str(k): str(v) for k, v in (obj.get("notes") or {}).items()},
                      {str(k): float(v) for k, v in (obj.get("extra") or {}).items()})
        except KeyError as exc:
            raise ValueError(f"a judgement needs {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"judgement {obj.get('judge')!r}: {exc}") from None
        if out.passed is not None and not isinstance(out.passed, bool):
            raise ValueError(f"judgement {out.judge!r}: passed must be true, false or null")
        return out


@dataclass
class Assessment:
    """The ``assessment`` of an alignment sample (see the module docstring)."""

    prompt: str
    prompt_id: str
    mode: str
    round: int
    checkpoint: str
    candidate: int
    seed: int
    sampling: dict[str, float] = field(default_factory=dict)
    spec: dict[str, Any] | None = None
    judgements: list[Judgement] = field(default_factory=list)
    role: str = "candidate"
    selected_by: str | None = None
    pair: str | None = None
    version: int = ASSESSMENT_VERSION

    def judgement(self, judge: str) -> Judgement | None:
        """The verdict of ``judge``, if it scored this candidate."""
        return next((j for j in self.judgements if j.judge == judge), None)

    def scene(self) -> Scene | None:
        """The scene the prompt asks for, when it is a scene of the sample web."""
        return Scene.from_json(self.spec) if self.spec else None

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored in ``KEY.json``."""
        out = asdict(self)
        out["judgements"] = [asdict(j) for j in self.judgements]
        return out

    @classmethod
    def from_json(cls, obj: Any) -> Assessment:
        """Parse and check the JSON form; a ``ValueError`` names what is wrong."""
        if not isinstance(obj, dict):
            raise ValueError(f"assessment must be an object, got {type(obj).__name__}")
        missing = [k for k in ("prompt", "prompt_id", "mode", "round", "checkpoint", "candidate", "seed")
                   if k not in obj]
        if missing:
            raise ValueError(f"assessment lacks {', '.join(missing)}")
        if obj["mode"] not in MODES:
            raise ValueError(f"assessment mode must be one of {', '.join(MODES)}, got {obj['mode']!r}")
        if obj.get("role", "candidate") not in ROLES:
            raise ValueError(f"assessment role must be one of {', '.join(ROLES)}, got {obj.get('role')!r}")
        for name in ("round", "candidate", "seed"):
            if not isinstance(obj[name], int) or isinstance(obj[name], bool):
                raise ValueError(f"assessment {name} must be an integer, got {obj[name]!r}")
        spec = obj.get("spec")
        if spec is not None:
            try:
                Scene.from_json(spec)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"assessment spec is not a scene: {exc}") from None
        return cls(str(obj["prompt"]), str(obj["prompt_id"]), obj["mode"], obj["round"], str(obj["checkpoint"]),
                   obj["candidate"], obj["seed"], {str(k): float(v) for k, v in (obj.get("sampling") or {}).items()},
                   spec, [Judgement.from_json(j) for j in obj.get("judgements") or []],
                   obj.get("role", "candidate"), obj.get("selected_by"), obj.get("pair"),
                   int(obj.get("version", ASSESSMENT_VERSION)))


def aspect_questions(scene: Scene) -> list[tuple[str, str]]:
    """``(aspect, question)`` for every group of ``scene`` and every aspect, in a fixed order.

    The model answers each with ``" yes"`` or ``" no"`` (``ANSWERS``) after the prompt and
    the image: this is how it assesses its own candidates, and what assessment documents
    teach it (``assessment_text``).
    """
    out = []
    for obj in scene.objects:
        out += [("colour", f"Is there a {obj.colour} shape?"),
                ("count", f"Are there {_NUMBER_WORDS[obj.count]} {obj.colour} shapes?"),
                ("position", f"Are the {obj.colour} shapes {_where(obj)}?"),
                ("shape", f"Are the {obj.colour} shapes {obj.shape}s?")]
    return out


def _where(obj: SceneObject) -> str:
    return "in the center" if obj.position == "center" else f"on the {obj.position}"


def assessment_text(question: str, right: bool, note: str = "") -> str:
    """One question and its answer as an assessment document writes it: ``Q? yes`` / ``Q? no, three drawn``."""
    answer = ANSWERS[0] if right else ANSWERS[1]
    return f"{question}{answer}" + (f", {note}" if note and not right else "") + "."
