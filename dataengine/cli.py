"""The ``dataengine`` command: one sub-command per module listed in ``COMMANDS``.

Each package's command module, ``PACKAGE/commands.py``, exposes ``register(subparsers)``, which
adds its parsers and sets ``func`` (called with the parsed arguments, returning an exit code).
Keeping the list here means ``dataengine --help`` is the index of everything the engine can do.
A ``UsageError``, ``ConfigError`` or ``CorpusError`` (``dataengine.errors``) raised by a command
is printed as one line, exit code 2; ``EXIT_CODES`` is the rule every command follows.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from dataengine.errors import ConfigError, CorpusError, UsageError
from dataengine.runner.ray_session import bind_local_ray_to_loopback, joins_cluster

COMMANDS = [
    "dataengine.align.commands",
    "dataengine.catalog.commands",
    "dataengine.dedup.commands",
    "dataengine.demo.commands",
    "dataengine.extract.commands",
    "dataengine.optout.commands",
    "dataengine.publish.commands",
    "dataengine.runner.commands",
    "dataengine.report.commands",
    "dataengine.sampleweb.commands",
    "dataengine.sources.commands",
    "dataengine.tokenize.commands",
]


EXIT_CODES = """exit codes, the same for every command:
  0    done
  1    it ran and found problems: validate found some, a query or a check failed
  2    it could not run: bad arguments, configuration or input (the message names which)
  130  interrupted (Ctrl-C)"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="dataengine",
        description="Build interleaved image-text corpora: crawl or read archives, extract, filter, "
                    "deduplicate, caption, tokenize, and write WebDataset shards with Parquet manifests.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dataengine``."""
    parser = build_parser()
    args = parse(parser, sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if not joins_cluster(getattr(args, "address", None)):
        bind_local_ray_to_loopback()
    try:
        return int(args.func(args) or 0)
    except (UsageError, ConfigError, CorpusError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``, letting a command's options come between its positional arguments.

    ``dataengine sql CORPUS --format json "QUERY"`` reads as people write it: argparse alone
    would take CORPUS, then the option, and refuse QUERY. Commands with sub-commands of their
    own (``sample-web generate``) parse as argparse does.
    """
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    position = next((i for i, arg in enumerate(argv) if not arg.startswith("-")), None)
    command = sub.choices.get(argv[position]) if position is not None else None
    if position != 0 or command is None or any(isinstance(a, argparse._SubParsersAction) for a in command._actions):
        return parser.parse_args(argv)
    args = command.parse_intermixed_args(argv[1:])
    args.command = argv[0]
    return args


def fail(message: str) -> int:
    """Print ``dataengine: error: MESSAGE`` to stderr and return the exit code 2."""
    print(f"dataengine: error: {message}", file=sys.stderr)
    return 2
