"""The judges of the self-generation loop, each a small stage that adds a ``Judgement`` to every candidate."""
