"""The house rules of architecture.md, checked on the source of our four packages.

Imports follow one direction (optimizer <- logistics <- api, dashboards); no import cycle
between modules (imports inside functions count, ``if TYPE_CHECKING:`` ones do not); no
private name imported from another module; SQLAlchemy and Alembic only under
logistics/persistence/; no module over 700 lines; print() only in logistics/cli/.

Each checker takes a root folder, so the tests at the end show on synthetic packages
that it finds what it is meant to find.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy.orm import Session

from tests.factories import build_tiny_county

ROOT = Path(__file__).resolve().parents[1]
OURS = ("optimizer", "logistics", "api", "dashboards")
MAX_MODULE_LINES = 700
PERSISTENCE = "logistics/persistence/"
DB_LIBRARIES = frozenset({"sqlalchemy", "alembic"})
PRINTING_ROOM = "logistics/cli/"


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's target, as written and resolved to absolute names."""

    module: str  # absolute module named after ``import`` / ``from``
    names: tuple[str, ...]  # the names of ``from m import a, b``; () for ``import m``
    line: int
    type_checking: bool  # inside an ``if TYPE_CHECKING:`` block


# ---------------------------------------------------------------- reading the source


def python_files(root: Path, packages: Iterable[str] = OURS) -> list[Path]:
    return sorted(p for pkg in packages for p in (root / pkg).rglob("*.py"))


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, type_checking: bool) -> Iterator[tuple[ast.AST, bool]]:
    """Every node below ``node``, with whether it sits in an ``if TYPE_CHECKING:`` body."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            yield child, type_checking
            for stmt in child.body:
                yield stmt, True
                yield from _walk(stmt, True)
            for stmt in child.orelse:
                yield stmt, type_checking
                yield from _walk(stmt, type_checking)
            continue
        yield child, type_checking
        yield from _walk(child, type_checking)


@lru_cache(maxsize=4096)
def _parse(path: Path, mtime_ns: int) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def parse(path: Path) -> ast.Module:
    """The syntax tree of a file, parsed once per version of the file."""
    return _parse(path, path.stat().st_mtime_ns)


def imports_of(root: Path, path: Path) -> list[Import]:
    """Every import of a file (module level, in functions, in TYPE_CHECKING blocks)."""
    tree = parse(path)
    package = module_name(root, path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[Import] = []
    for node, tc in _walk(tree, False):
        if isinstance(node, ast.Import):
            found += [Import(a.name, (), node.lineno, tc) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append(Import(module, tuple(a.name for a in node.names), node.lineno, tc))
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


# ---------------------------------------------------------------- the checkers


def import_graph(root: Path, packages: Iterable[str] = OURS) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (TYPE_CHECKING-only imports left out).

    ``from pkg import mod`` is an edge to ``pkg.mod`` when that is a module; an import of
    ``a.b.c`` is an edge to ``a.b.c`` alone, not to the packages ``a`` and ``a.b``.
    """
    files = python_files(root, packages)
    modules = {module_name(root, p) for p in files}

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for path in files:
        me = module_name(root, path)
        for imp in imports_of(root, path):
            if imp.type_checking:
                continue
            targets = [f"{imp.module}.{n}" for n in imp.names if f"{imp.module}.{n}" in modules]
            if len(targets) < len(imp.names) or not imp.names:
                targets.append(imp.module)  # names that are not modules come from the module
            for target in targets:
                resolved = known(target)
                if resolved is not None and resolved != me:
                    graph[me].add(resolved)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> ... -> a) per strongly connected group of modules (Tarjan); see
    :func:`cycle_groups` for every module of each group."""
    return [_cycle_in(graph, group) for group in cycle_groups(graph)]


def cycle_groups(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of two or more modules that import each other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group: set[str] = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return groups


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt: list[str] = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w not in previous:
                    previous[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start} in {sorted(group)}")


def private_imports(root: Path, packages: Iterable[str] = OURS) -> list[str]:
    """``file:line: module.name`` for every ``_private`` name (or module) of ours imported
    from another module."""
    ours = set(packages)
    bad: list[str] = []
    for path in python_files(root, packages):
        for imp in imports_of(root, path):
            if _top(imp.module) not in ours:
                continue
            parts = imp.module.split(".")
            names = [f"{imp.module}.{n}" for n in imp.names if _private(n)]
            if any(_private(p) for p in parts):
                names.append(imp.module)
            bad += [f"{rel(root, path)}:{imp.line}: {n}" for n in names]
    return bad


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def database_imports(root: Path, packages: Iterable[str] = OURS,
                     allowed: str = PERSISTENCE) -> list[str]:
    """``file:line: module`` for every import of SQLAlchemy or Alembic outside ``allowed``
    (the type-only ones too: the session and error types come from persistence.db)."""
    bad: list[str] = []
    for path in python_files(root, packages):
        if rel(root, path).startswith(allowed):
            continue
        bad += [f"{rel(root, path)}:{imp.line}: {imp.module}"
                for imp in imports_of(root, path) if _top(imp.module) in DB_LIBRARIES]
    return bad


def long_modules(root: Path, packages: Iterable[str] = OURS,
                 limit: int = MAX_MODULE_LINES) -> list[str]:
    """``file: N lines`` for every module over ``limit`` lines."""
    out: list[str] = []
    for path in python_files(root, packages):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > limit:
            out.append(f"{rel(root, path)}: {n} lines")
    return out


def print_calls(root: Path, packages: Iterable[str] = OURS,
                allowed: str = PRINTING_ROOM) -> list[str]:
    """``file:line`` for every print() call outside ``allowed``."""
    bad: list[str] = []
    for path in python_files(root, packages):
        if rel(root, path).startswith(allowed):
            continue
        bad += [f"{rel(root, path)}:{node.lineno}"
                for node in ast.walk(parse(path))
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "print"]
    return bad


def packages_imported(root: Path, path: Path) -> set[str]:
    """Which of our packages a file imports (at any level)."""
    return {_top(imp.module) for imp in imports_of(root, path)} & set(OURS)


# ---------------------------------------------------------------- the rules on this tree


def test_optimizer_imports_nothing_of_ours() -> None:
    bad = {rel(ROOT, p): packages_imported(ROOT, p) - {"optimizer"}
           for p in python_files(ROOT, ["optimizer"])}
    assert {k: v for k, v in bad.items() if v} == {}


def test_only_planning_and_the_cli_bridge_logistics_to_optimizer() -> None:
    bridges = ("logistics/planning/translate.py", "logistics/cli/")
    bad = [rel(ROOT, p) for p in python_files(ROOT, ["logistics"])
           if "optimizer" in packages_imported(ROOT, p) and not rel(ROOT, p).startswith(bridges)]
    assert bad == []


def test_logistics_does_not_import_api_or_dashboards() -> None:
    bad = [rel(ROOT, p) for p in python_files(ROOT, ["logistics"])
           if packages_imported(ROOT, p) & {"api", "dashboards"}
           and not rel(ROOT, p).startswith("logistics/cli/")]
    assert bad == []


def test_ortools_only_in_model() -> None:
    users = [rel(ROOT, p) for p in python_files(ROOT)
             if any(_top(i.module) == "ortools" for i in imports_of(ROOT, p))]
    assert set(users) <= {"optimizer/model.py"}, users


def test_no_import_cycles() -> None:
    graph = import_graph(ROOT)
    lines = [f"{' -> '.join(_cycle_in(graph, g))}  (group: {', '.join(sorted(g))})"
             for g in cycle_groups(graph)]
    assert lines == [], "import cycles:\n" + "\n".join(lines)


def test_no_private_names_imported_from_another_module() -> None:
    bad = private_imports(ROOT)
    assert bad == [], "private names imported:\n" + "\n".join(bad)


def test_sqlalchemy_and_alembic_only_in_persistence() -> None:
    bad = database_imports(ROOT)
    assert bad == [], f"database imports outside {PERSISTENCE}:\n" + "\n".join(bad)


def test_no_module_over_the_line_limit() -> None:
    bad = long_modules(ROOT)
    assert bad == [], f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(bad)


def test_only_the_cli_prints() -> None:
    bad = print_calls(ROOT)
    assert bad == [], f"print() outside {PRINTING_ROOM}:\n" + "\n".join(bad)


#: what `wasteroute metrics --json` must not start: a script's figure that once spent
#: more time importing these than querying (docs/decisions/0012)
NOT_FOR_METRICS = ("pandas", "numpy", "plotly", "weasyprint", "ortools", "pyvrp", "alembic",
                   "optimizer", "dashboards", "api", "logistics.planning.plan",
                   "logistics.imports", "logistics.sheets")


def test_metrics_json_starts_no_heavy_library(session: Session, db_url: str,
                                              tmp_path: Path) -> None:
    build_tiny_county(session)
    session.commit()
    listing = tmp_path / "modules.txt"
    code = ("import sys\nfrom logistics.cli import app\ntry:\n    app()\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            f"open({str(listing)!r}, 'w').write('\\n'.join(sys.modules))\n")
    run = subprocess.run(
        [sys.executable, "-c", code, "--db", db_url, "metrics", "--from", "2020-01-06",
         "--to", "2020-01-12", "--json"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["groups"][0]["metrics"]["tonnage_collected_t"]["value"] > 0
    loaded = listing.read_text(encoding="utf-8").split("\n")
    heavy = sorted(m for m in loaded
                   if any(m == n or m.startswith(f"{n}.") for n in NOT_FOR_METRICS))
    assert heavy == []


# ---------------------------------------------------------------- the checkers on synthetic trees


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_checker_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "def f():\n    from .c import g\n    return g\n",
        "pkg/c.py": "import pkg.a\n",
        "pkg/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.e import X\n",
        "pkg/e.py": "from pkg.d import Y\n",
    })
    graph = import_graph(root, ["pkg"])
    assert graph["pkg.b"] == {"pkg.c"}  # relative import, resolved
    assert graph["pkg.d"] == set()  # TYPE_CHECKING only: no edge
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_checker_finds_private_names_of_our_modules(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "_x = 1\ny = 2\n",
        "pkg/b.py": "from pkg.a import _x, y\nfrom os import _exit\nfrom . import __version__\n",
        "pkg/c.py": "def f():\n    from pkg._impl import z\n",
    })
    assert private_imports(root, ["pkg"]) == ["pkg/b.py:1: pkg.a._x", "pkg/c.py:2: pkg._impl"]


def test_checker_finds_database_imports_outside_persistence(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/persistence/repo.py": "from sqlalchemy import select\n",
        "pkg/service.py": "import sqlalchemy.orm\ndef f():\n    from alembic import command\n",
    })
    assert database_imports(root, ["pkg"], allowed="pkg/persistence/") == [
        "pkg/service.py:1: sqlalchemy.orm", "pkg/service.py:3: alembic",
    ]


def test_checker_finds_long_modules_and_prints(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/long.py": "x = 1\n" * 11,
        "pkg/short.py": "def f():\n    print('hi')\n",
        "pkg/cli/app.py": "print('allowed')\n",
    })
    assert long_modules(root, ["pkg"], limit=10) == ["pkg/long.py: 11 lines"]
    assert print_calls(root, ["pkg"], allowed="pkg/cli/") == ["pkg/short.py:2"]
