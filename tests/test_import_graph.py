"""The project's modules import each other without cycles, and engine and trainer import one way.

The graph is read from the source with ``ast``, not by importing anything: every ``import`` and
``from ... import`` of ``dataengine``, ``trainer`` and ``schemas``, at the top of a module and
the lazy ones inside functions alike (relative imports resolved). ``from PKG import NAME``
points at the module ``PKG.NAME`` when there is one, else at ``PKG`` (whose ``__init__``
defines or re-exports ``NAME``). Imports by name at run time (``importlib.import_module``,
as ``cli.COMMANDS`` does) are not statements and are not followed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dataengine", "trainer", "schemas")

def project_modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (source file, whether it is a package's ``__init__``) for every project module."""
    modules: dict[str, tuple[Path, bool]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def imported_modules(name: str, is_package: bool, tree: ast.Module, modules: set[str]) -> set[str]:
    """The project modules that module ``name`` (parsed as ``tree``) imports, anywhere in its body."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            wanted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            wanted = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in wanted:
            while target and target not in modules:  # an attribute, or a module outside the project
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (at its top or inside a function)."""
    modules = project_modules()
    return {name: imported_modules(name, is_package, ast.parse(path.read_text(), str(path)), set(modules))
            for name, (path, is_package) in modules.items()}


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected sets of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_the_graph_sees_lazy_and_relative_imports():
    source = "from ..d import e\nfrom . import f\nimport os\n\ndef g():\n    import a.d.x\n    from a import h\n"
    assert imported_modules("a.b.c", False, ast.parse(source), {"a", "a.d", "a.b", "a.b.c", "a.b.f"}) == \
        {"a.d", "a.b.f", "a"}
    graph = import_graph()
    assert "dataengine.errors" in graph["dataengine.cli"]
    assert "dataengine.demo.loop" in graph["dataengine.demo.commands"]              # inside a function
    assert "trainer.train.checkpoint" in graph["dataengine.caption.unified"]        # inside a method
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {frozenset("abc")}


def test_no_import_cycle():
    found = [sorted(c) for c in cycles(import_graph())]
    assert not found, f"import cycles: {found}"


def test_engine_and_trainer_import_one_way():
    graph = import_graph()
    trainer_to_engine = sorted(f"{m} -> {t}" for m, ts in graph.items() if m.startswith("trainer")
                               for t in ts if t.split(".")[0] == "dataengine")
    assert not trainer_to_engine, "the trainer never imports dataengine"
    schemas_out = sorted(f"{m} -> {t}" for m, ts in graph.items() if m.split(".")[0] == "schemas"
                         for t in ts if t.split(".")[0] != "schemas")
    assert not schemas_out, "schemas/ imports neither the engine nor the trainer"
