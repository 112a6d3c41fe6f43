"""The shape of the code: every import (function-local ones too) goes down a declared order of
layers, and no two modules import each other, however indirectly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import glancevad

SOURCE = Path(glancevad.__file__).parent

#: The layers, lowest first: a unit (a package such as ``data`` or a top-level module such as
#: ``tgs``) imports units of its own layer or of lower ones, never of a higher one. A new unit
#: must be placed here.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "constants", "constraints", "intervals", "console", "presets"),
    ("fileio", "parsing", "runtime", "checkpoint_selection"),
    ("tgs", "metrics", "events", "plots", "layers"),
    ("data", "glance", "config", "models", "synth"),
    ("features", "engine"),
    ("causal",),
    ("inference",),   # the one scoring path: checkpoint -> scores -> events
    ("overlay", "export", "compare", "detect", "evaluation", "testing"),  # testing: the plain training step
    ("assist", "watch", "annotate"),
    ("experiments",),
    ("report",),
    ("cli", "__main__"),
]


def _sources() -> dict[str, str]:
    """``{module name: source}`` of every module of the package."""
    out = {}
    for path in SOURCE.rglob("*.py"):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        out[".".join(("glancevad", *parts)).removesuffix(".__init__")] = path.read_text()
    return out


def _unit(module: str) -> str:
    """The unit a module belongs to: ``glancevad.data.lists`` -> ``data``, ``glancevad.tgs`` -> ``tgs``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(sources: dict[str, str]) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``, read from every import statement, at module
    level or inside a function; ``from a import b`` counts ``a.b`` when that is a module. A relative
    import fails the check: the graph would miss it, so the package writes every import absolute."""
    graph: dict[str, set[str]] = {}
    for module, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                dots = "." * node.level
                raise AssertionError(f"{module}: relative import (from {dots}{node.module or ''} import ...) on line"
                                     f" {node.lineno}: write it absolute (from glancevad... import ...)")
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            graph.setdefault(module, set()).update(n for n in names if n in sources and n != module)
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


def _upward(graph: dict[str, set[str]], layers: list[tuple[str, ...]]) -> list[str]:
    """Every import of a higher layer (and every module of a unit no layer declares)."""
    level = {unit: i for i, names in enumerate(layers) for unit in names}
    problems = []
    for module, targets in sorted(graph.items()):
        source = _unit(module)
        if source and source not in level:
            problems.append(f"{module}: unit {source!r} is in no layer")
            continue
        for target in sorted(targets):
            if source and _unit(target) and level.get(_unit(target), -1) > level[source]:
                problems.append(f"{module} imports {target} (layer {level[_unit(target)]} > {level[source]})")
    return problems


def _check(sources: dict[str, str], layers: list[tuple[str, ...]]) -> None:
    graph = _imports(sources)
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
    problems = _upward(graph, layers)
    assert not problems, "\n".join(problems)


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


def test_a_function_local_cycle_fails_the_check():
    sources = {
        "glancevad.low": "import glancevad.errors\n\ndef f():\n    from glancevad.high import g\n    return g\n",
        "glancevad.high": "from glancevad.low import f\n",
        "glancevad.errors": "",
    }
    with pytest.raises(AssertionError, match="import cycle: glancevad.high -> glancevad.low -> glancevad.high"):
        _check(sources, [("errors",), ("low", "high")])
    with pytest.raises(AssertionError, match=r"glancevad.low imports glancevad.high \(layer 2 > 1\)"):
        _check({**sources, "glancevad.high": ""}, [("errors",), ("low",), ("high",)])
    with pytest.raises(AssertionError, match="unit 'low' is in no layer"):
        _check({**sources, "glancevad.high": ""}, [("errors", "high")])
    _check({**sources, "glancevad.high": ""}, [("errors",), ("high",), ("low",)])


def test_a_relative_import_fails_the_check():
    """A relative import is not in the graph, so it could hide a cycle or an upward import: it fails."""
    for text, shown in (("from . import high\n", "from . import"), ("def f():\n    from .high import g\n",
                                                                    "from .high import")):
        sources = {"glancevad.low": text, "glancevad.high": "", "glancevad.errors": ""}
        with pytest.raises(AssertionError, match=f"glancevad.low: relative import \\({shown} ...\\)"):
            _check(sources, [("errors",), ("low",), ("high",)])


def test_the_package_follows_its_layers_without_cycles():
    _check(_sources(), LAYERS)


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


def test_the_docs_name_the_layers_as_declared():
    """docs/extending.md's sentence of layers, lowest first, is LAYERS (a unit added here is added there)."""
    import re

    text = (SOURCE.parents[1] / "docs" / "extending.md").read_text()
    sentence = " ".join(text.split("could not follow): ", 1)[1].split(". `report`", 1)[0].split())
    written = [tuple(name.strip(" `") for name in layer.split(",")) for layer in sentence.split("→")]
    assert written == LAYERS, re.sub(r"\s+", " ", sentence)
