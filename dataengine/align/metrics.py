"""What one round of alignment data says about the model: pass rates, and self-assessment against the judge.

Read from a round's output through the catalog's ``candidates`` view (every candidate, kept or
not, once per judge), for the candidates both ``self_assess`` and the reference judge scored:

- ``pass_rate``: the share of candidates the judge passed (what a random pick gets);
- ``auroc``: how well the self-assessment score ranks passed above failed candidates (0.5 is
  chance), the Mann-Whitney statistic with ties counted half;
- ``answer_accuracy``: the share of yes/no answers (per aspect, sign of ``p(yes) - p(no)``) that
  agree with the judge's verdict on that aspect;
- ``self_pick_pass_rate`` and ``pick_gain``: the judge's pass rate of the candidate each prompt's
  self-assessment ranks first, and that minus ``pass_rate``;
- ``chosen``: candidates selected for fine-tuning, ``prompts_with_pass``: prompts with any passing one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def auroc(scores: list[float], labels: list[bool]) -> float:
    """Area under the ROC curve of ``scores`` for ``labels``; NaN when one class is missing."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return float("nan")
    ranked = sorted((s, i) for i, s in enumerate(pos + neg))
    ranks = [0.0] * len(ranked)
    i = 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[ranked[k][1]] = (i + j) / 2 + 1
        i = j + 1
    u = sum(ranks[:len(pos)]) - len(pos) * (len(pos) + 1) / 2
    return u / (len(pos) * len(neg))


def round_metrics(corpus: str, judge: str = "ground_truth", self_judge: str = "self_assess") -> dict[str, Any]:
    """The figures of the module docstring for the round written to ``corpus``."""
    import json

    from dataengine.catalog.catalog import Catalog

    with Catalog(corpus) as cat:
        rows = cat.arrow("select id, prompt_id, judge, score, passed, aspects::VARCHAR AS aspects, chosen "
                         "from candidates").to_pylist()
    by_id: dict[str, dict[str, Any]] = defaultdict(dict)
    for r in rows:
        by_id[r["id"]][r["judge"]] = r
    both = [c for c in by_id.values() if judge in c and self_judge in c]
    out: dict[str, Any] = {"candidates": len(by_id), "chosen": sum(1 for c in by_id.values()
                                                                    if any(r["chosen"] for r in c.values()))}
    judged = [c[judge] for c in by_id.values() if judge in c]
    out["pass_rate"] = sum(bool(r["passed"]) for r in judged) / len(judged) if judged else float("nan")
    prompts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in both:
        prompts[c[judge]["prompt_id"]].append(c)
    out["prompts"] = len({r["prompt_id"] for r in judged})
    out["prompts_with_pass"] = len({r["prompt_id"] for r in judged if r["passed"]})
    if not both:
        return out
    out["auroc"] = auroc([c[self_judge]["score"] for c in both], [bool(c[judge]["passed"]) for c in both])
    agree = total = 0
    for c in both:
        truth, own = json.loads(c[judge]["aspects"] or "{}"), json.loads(c[self_judge]["aspects"] or "{}")
        for aspect, right in truth.items():
            if aspect in own:
                agree += (own[aspect] > 0) == (right >= 1.0)
                total += 1
    out["answer_accuracy"] = agree / total if total else float("nan")
    picks = [max(group, key=lambda c: c[self_judge]["score"]) for group in prompts.values()]
    out["self_pick_pass_rate"] = sum(bool(c[judge]["passed"]) for c in picks) / len(picks)
    random_rate = sum(bool(c[judge]["passed"]) for c in both) / len(both)
    out["pick_gain"] = out["self_pick_pass_rate"] - random_rate
    return out
