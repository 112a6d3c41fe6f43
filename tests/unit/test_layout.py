"""The shape of the code: no import cycle between glancevad's packages."""

from __future__ import annotations

import ast
from pathlib import Path

import glancevad

SOURCE = Path(glancevad.__file__).parent


def _unit(module: str) -> str:
    """The package (``glancevad.data``) or top-level module (``glancevad.config``) a module belongs to."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _import_graph(module_level_only: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SOURCE.rglob("*.py"):
        module = "glancevad." + ".".join(path.relative_to(SOURCE).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        nodes = tree.body if module_level_only else list(ast.walk(tree))
        for node in nodes:
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("glancevad.") and _unit(name) != _unit(module):
                    graph.setdefault(_unit(module), set()).add(_unit(name))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


def test_no_import_cycle_between_packages():
    assert _cycle(_import_graph(module_level_only=True)) is None



def test_the_command_line_starts_without_torch():
    """`glancevad --help` and every command's parsing stay fast: torch loads only where a command needs it."""
    import subprocess
    import sys

    code = "import glancevad.cli, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_annotation_server_imports_no_torch():
    import subprocess
    import sys

    code = "import glancevad.annotate.server, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
