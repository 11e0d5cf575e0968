"""The shape of the code: the core imports no face, nothing imports in a circle, modules stay small.

The import graph is read from the source (`ast`), so the test sees every `import` a module makes:
module-level ones (which run on import) make the graph that must have no cycle; every import,
including lazy ones inside functions and those under `TYPE_CHECKING`, counts for who may import what.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("orchestration", "server", "faces")
FACES = ("server", "faces")
EDITOR_LIBRARIES = ("pygls", "lsprotocol", "rich", "pytest_lsp")
MAX_TOP_LEVEL_MODULES = 8
MAX_MODULE_LINES = 400


@dataclass(frozen=True, slots=True)
class ImportEdge:
    """`source` imports `target` (a dotted name); `eager` when it runs as the module is imported."""

    source: str
    target: str
    eager: bool
    line: int


def module_name(path: Path) -> str:
    """`orchestration/panel/seats.py` → `orchestration.panel.seats` (a package is its `__init__`)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_files() -> list[Path]:
    """Every Python file of the project's import packages, migrations excluded (Alembic loads those)."""
    return sorted(
        path
        for package in PROJECT_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> Iterator[ImportEdge]:
    """The modules `path` imports, resolved to absolute dotted names."""
    source = module_name(path)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]

    def visit(node: ast.AST, eager: bool) -> Iterator[ImportEdge]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield ImportEdge(source, alias.name, eager, child.lineno)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                yield ImportEdge(source, base, eager, child.lineno)
                for alias in child.names:  # `from pkg import module` imports a module too.
                    yield ImportEdge(source, f"{base}.{alias.name}", eager, child.lineno)
            elif isinstance(child, ast.If) and is_type_checking(child.test):
                yield from visit(child, False)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from visit(child, False)
            else:
                yield from visit(child, eager)

    yield from visit(ast.parse(path.read_text(), str(path)), True)


def project_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports eagerly (packages count: importing one runs its `__init__`)."""
    modules = {module_name(path) for path in project_files()}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for path in project_files():
        for edge in imports_of(path):
            if edge.eager and edge.target in modules and edge.target != edge.source:
                graph[edge.source].add(edge.target)
    for name in modules:  # Importing a.b.c first imports a and a.b.
        parts = name.split(".")
        for depth in range(1, len(parts)):
            parent = ".".join(parts[:depth])
            if parent in modules and parent != name:
                graph[name].add(parent)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first = last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_no_import_cycle_among_project_modules() -> None:
    graph = project_graph()
    assert len(graph) > 60, "the graph should hold every project module"
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def offending_imports(package: str, forbidden: tuple[str, ...]) -> list[str]:
    """Every import (eager, lazy or type-only) in `package` of a module under one of `forbidden`.

    A `__main__` module is a process's entry point, not part of a face: `python -m server` is the
    whole `chorus` command, so it may hand the other subcommands to the command-line face.
    """
    found = []
    for path in project_files():
        if module_name(path).split(".")[0] != package or path.name == "__main__.py":
            continue
        for edge in imports_of(path):
            if edge.target.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(ROOT)}:{edge.line} imports {edge.target}")
    return found


@pytest.mark.parametrize("package", ["orchestration"])
def test_the_core_imports_no_face_and_no_editor_library(package: str) -> None:
    assert offending_imports(package, FACES + EDITOR_LIBRARIES) == []


def test_faces_do_not_import_each_other() -> None:
    assert offending_imports("server", ("faces",)) == []
    assert offending_imports("faces", ("server", "pygls", "lsprotocol")) == []


def test_loading_the_core_loads_no_face_or_editor_library() -> None:
    """At run time too: every core module imported, and not one face or editor module came along."""
    core = sorted(
        module_name(path) for path in project_files() if module_name(path).startswith("orchestration")
    )
    script = (
        "import importlib, sys\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FACES + EDITOR_LIBRARIES!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_the_core_has_at_most_eight_top_level_modules() -> None:
    top = sorted(path.name for path in (ROOT / "orchestration").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_no_module_is_over_four_hundred_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in project_files()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_every_package_says_what_it_owns() -> None:
    packages = [path for path in project_files() if path.name == "__init__.py"]
    undocumented = [
        str(path.relative_to(ROOT)) for path in packages if not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert len(packages) >= 12 and undocumented == []


def test_starting_the_language_server_loads_neither_litellm_nor_the_stores_sql_layer() -> None:
    """`initialize` is answered before either is needed: litellm loads after it, the store when opened."""
    script = (
        "import sys\nimport server.app\n"
        "print(sorted(m for m in ('litellm', 'sqlalchemy', 'alembic', 'psycopg') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
