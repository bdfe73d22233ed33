"""The ``trainer`` command."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``trainer``."""
    return argparse.ArgumentParser(
        prog="trainer",
        description="Train a unified text+image-token model on dataengine shards.")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``trainer``."""
    build_parser().parse_args(argv)
    return 0
