"""The engine's user-facing error types, in one module that imports nothing of the engine.

Every package may raise these and every command module catches them, so they live here
rather than in one of those packages (``cli.py`` imports every command module, and the
sources would otherwise import ``runner/`` for ``ConfigError`` while ``runner/`` imports
the sources). Each carries a one-line message meant for the user; the CLI prints it as
``dataengine: error: MESSAGE`` without a traceback.

An error that only one module raises and its own command reports stays beside that module
(``catalog.ReadOnlyError``, ``publish.PublishError``). ``ConfigError`` is the one error of the
config loader that the engine and the trainer share (``schemas.config``; the trainer never
imports ``dataengine``), so a bad key reads the same in a pipeline, the dedup settings and a
training config.
"""

from __future__ import annotations

from schemas.config import ConfigError

__all__ = ["ConfigError", "CorpusError", "UsageError"]


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, without a traceback."""


class CorpusError(Exception):
    """A corpus path that cannot be used (missing, not a corpus, unreadable); the message is one line."""
