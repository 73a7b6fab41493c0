"""The layers read top-down (../shared/design.md): every import in src/benchhash, inside functions
and under TYPE_CHECKING too, goes to its own layer or one below, and no imports that run (at the
top of a module or inside a function) close a circle, between modules or between packages. A
name imported for annotations alone (under TYPE_CHECKING: a phase of the llm workload names the
workload that holds it) is never imported when the code runs, and closes no circle. The old
paths of moved modules (benchhash.moved) are left out, and nothing may import them."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchhash.moved import MOVED

SRC = Path(__file__).resolve().parents[1] / "src" / "benchhash"

#: The layers, top first, as design.md draws them: a package may import its own layer and the
#: layers below. "benchhash" is the package's own __init__ (its version), "data" the shipped data.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "__main__"),
    ("review", "econ", "report"),
    ("fleet", "session", "runner"),
    ("workloads",),
    ("meters", "sha256d"),
    ("hw",),
    ("results",),
    ("errors", "fsutil", "stats", "units", "moved", "data", "benchhash"),
)
LAYER = {package: i for i, layer in enumerate(LAYERS) for package in layer}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _target(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _typing_only(tree: ast.AST) -> set[int]:
    """The ids of the import statements under ``if TYPE_CHECKING:``."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def imports(path: Path, module: str | None = None, typing: bool = True) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every import of a benchhash module in the file (the module
    ``module``, by default the one at that path), wherever it is (with ``typing`` False: not
    those under TYPE_CHECKING). ``from benchhash.x import y`` imports benchhash.x.y where that
    is a module, else benchhash.x."""
    module = module or module_name(path)
    tree = ast.parse(path.read_text(), str(path))
    skip = set() if typing else _typing_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from ((a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "benchhash")
        elif isinstance(node, ast.ImportFrom):
            yield from _from(node, _target(node, module, path.name == "__init__.py"))


def _from(node: ast.ImportFrom, target: str) -> Iterator[tuple[str, int]]:
    if target.split(".")[0] != "benchhash":
        return
    names = [f"{target}.{a.name}" for a in node.names]
    yield from ((n, node.lineno) for n in names if n in MODULES)
    if any(n not in MODULES for n in names):
        yield target, node.lineno


FILES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}
MODULES = set(FILES)
CHECKED = {m: p for m, p in FILES.items() if m not in MOVED}
#: module -> the modules it imports, and the ones it imports when it runs
GRAPH = {m: sorted({t for t, _ in imports(p) if t in MODULES and t != m}) for m, p in CHECKED.items()}
RUNTIME = {m: sorted({t for t, _ in imports(p, typing=False) if t in MODULES and t != m}) for m, p in CHECKED.items()}


def test_every_package_has_a_layer() -> None:
    assert sorted({package_of(m) for m in MODULES} - set(LAYER)) == []


def test_no_import_runs_back_up() -> None:
    up = [f"{FILES[m].relative_to(SRC.parent)}:{line}: {m} ({package_of(m)}) imports {t} ({package_of(t)})"
          for m in GRAPH for t, line in imports(FILES[m])
          if t in MODULES and LAYER[package_of(t)] < LAYER[package_of(m)]]
    assert up == []


def test_nothing_imports_a_moved_module() -> None:
    used = [f"{m} imports {t}" for m, targets in GRAPH.items() for t in targets if t in MOVED]
    assert used == []


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_moved_module_is_its_alias_alone(old: str) -> None:
    """An old path holds the alias call and nothing else, so that it can go without a trace."""
    tree = ast.parse(FILES[old].read_text())
    body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    assert [ast.unparse(n) for n in body] == ["from benchhash.moved import alias", "alias(__name__)"]


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_modules_import_each_other() -> None:
    assert cycles(RUNTIME) == []


def test_no_packages_import_each_other() -> None:
    """Between packages, annotations count too: a package names no type of a package that
    imports it."""
    packages: dict[str, set[str]] = {}
    for m, targets in GRAPH.items():
        packages.setdefault(package_of(m), set()).update(t for t in map(package_of, targets) if t != package_of(m))
    assert cycles({p: sorted(t) for p, t in packages.items()}) == []


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Inside a function, under TYPE_CHECKING, relative, and a module named in a from-import."""
    f = tmp_path / "x.py"
    f.write_text("from typing import TYPE_CHECKING\nfrom . import model\nif TYPE_CHECKING:\n"
                 "    from ..review import verify\ndef f():\n    import benchhash.cli\n")
    found = set(imports(f, "benchhash.results.x"))
    assert {("benchhash.results.model", 2), ("benchhash.review.verify", 4), ("benchhash.cli", 6)} <= found
    assert ("benchhash.review.verify", 4) not in set(imports(f, "benchhash.results.x", typing=False))


def test_cycles_are_found() -> None:
    assert cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
