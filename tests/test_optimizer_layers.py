"""optimizer/ in layers: each module imports only layers below it, public names only.

Imports inside functions count: a function-level import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "optimizer"

#: module -> layer; a module may import only modules of a lower layer
LAYERS = {
    "optimizer.problem": 0,
    "optimizer.params": 1,
    "optimizer.solution": 1,
    "optimizer": 2,
    "optimizer.jobs": 2,
    "optimizer.instances": 2,
    "optimizer.generate": 2,
    "optimizer.routes": 3,
    "optimizer.checker": 3,
    "optimizer.model": 4,
    "optimizer.construct": 5,
    "optimizer.partition": 6,
    "optimizer.group": 7,
    "optimizer.large": 8,
    "optimizer.reasons": 8,
    "optimizer.eliminate": 9,
    "optimizer.assemble": 9,
    "optimizer.pyvrp_engine": 9,
    "optimizer.regions": 9,
    "optimizer.portfolio": 9,
    "optimizer.hgs": 10,
    "optimizer.cluster": 1,
    "optimizer.city": 3,
    "optimizer.solve": 11,
    "optimizer.bench": 12,
    "optimizer.distance.base": 0,
    "optimizer.distance.osm": 1,
    "optimizer.distance.servers": 1,
    "optimizer.distance.lazy": 1,
    "optimizer.distance": 2,
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import of ours in the file."""
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == "optimizer"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "optimizer":
            out.append((node.module, [a.name for a in node.names]))
    return out


def _files() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    assert sorted(_module(p) for p in _files()) == sorted(LAYERS)


def test_modules_import_only_lower_layers() -> None:
    bad = []
    for p in _files():
        me = _module(p)
        for mod, _ in _imports(p):
            if LAYERS.get(mod, 99) >= LAYERS[me]:
                bad.append(f"{me} imports {mod}")
    assert bad == []


def test_no_private_name_crosses_modules() -> None:
    bad = [f"{_module(p)}: {mod}.{name}" for p in _files() for mod, names in _imports(p)
           for name in names if name.startswith("_")]
    assert bad == []


def test_no_module_is_over_700_lines() -> None:
    long = {_module(p): n for p in _files()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 700}
    assert long == {}
