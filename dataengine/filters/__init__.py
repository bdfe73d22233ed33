"""Filter stages: text quality, language, blocklists, image rules, and model scores.

Each module holds one kind of filter; the pipeline names them through
``dataengine.registry.STAGES``. Importing this package imports nothing heavy: the model
stages (``clip``, ``nsfw``) pull in torch, open_clip and onnxruntime only when used.

Every removal is a ``rejected`` row whose ``reason`` is stable and grouped by metric (for
text: ``<metric>_low`` / ``<metric>_high``), and every measured value is kept on the
document (``doc.scores``) or the image (``image.scores``) so the manifests carry it.
"""
