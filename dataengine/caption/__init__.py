"""Captioning: write what an image shows beside its alt text, with the name of the model that wrote it.

- ``policy``: which images get a caption (``missing_alt`` or ``all``) and when alt text is usable.
- ``hf``: Hugging Face image-to-text and vision-language models, by hub name or local path.
- ``unified``: the bundled unified model (a ``trainer train`` run), image to text.
- ``stage``: ``Captioner``, the pipeline stage ``caption`` (batched, on an actor pool).
- ``judge``: captions scored against the sample web's ground truth.
"""
