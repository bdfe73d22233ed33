"""The CLI's rooms: each package's command module is its ``commands.py``, and ``COMMANDS`` lists them all."""

from __future__ import annotations

import re
from pathlib import Path

import dataengine
from dataengine.cli import COMMANDS, build_parser

PACKAGE = Path(dataengine.__file__).parent
REGISTERS = re.compile(r"^def register\(sub\w*: argparse\._SubParsersAction", re.M)  # what cli.py calls


def test_every_command_module_is_a_packages_commands_py():
    on_disk = sorted(f"dataengine.{p.parent.name}.commands" for p in PACKAGE.glob("*/commands.py"))
    assert sorted(COMMANDS) == on_disk
    strays = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                    if p.name != "commands.py" and ("command" in p.stem or REGISTERS.search(p.read_text())))
    assert not strays, f"command modules not named commands.py: {strays}"


def test_every_command_registers():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert {"sql", "validate", "dedup", "demo", "extract", "optout", "publish", "run", "report", "sample-web",
            "obelics", "tokenizer"} <= set(sub.choices)
