"""The self-generation alignment loop: the current model draws candidates, judges score them, selection
keeps the best, and the next round trains on them (``pipelines/align.yaml``, ``dataengine align loop``).

One round is an ordinary pipeline: ``prompts`` (source) -> ``generate`` -> scorers
(``ground_truth``, ``self_assess``, ``clip``, ``vlm``) -> ``assessment_docs`` -> ``select``;
its output is a corpus of alignment samples that ``trainer train --align`` fine-tunes on.
"""
