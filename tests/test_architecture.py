"""Imports follow the direction of architecture.md: optimizer <- logistics <- api, dashboards."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = {"optimizer", "logistics", "api", "dashboards"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


def _files(pkg: str) -> list[Path]:
    return sorted((ROOT / pkg).rglob("*.py"))


def test_optimizer_imports_nothing_of_ours() -> None:
    bad = {str(p.relative_to(ROOT)): _imports(p) - {"optimizer"} for p in _files("optimizer")}
    assert {k: v for k, v in bad.items() if v} == {}


def test_only_planning_bridges_logistics_to_optimizer() -> None:
    allowed = {"logistics/planning/plan.py", "logistics/cli/app.py"}
    bad = [
        str(p.relative_to(ROOT))
        for p in _files("logistics")
        if "optimizer" in _imports(p) and str(p.relative_to(ROOT)) not in allowed
    ]
    assert bad == []


def test_logistics_does_not_import_api_or_dashboards() -> None:
    bad = [
        str(p.relative_to(ROOT))
        for p in _files("logistics")
        if _imports(p) & {"api", "dashboards"} and "cli" not in p.relative_to(ROOT).parts
    ]
    assert bad == []


def test_ortools_only_in_model() -> None:
    users = [
        str(p.relative_to(ROOT))
        for p in ROOT.glob("*/**/*.py")
        if ".venv" not in p.parts and "ortools" in p.read_text(encoding="utf-8")
        and p.parts[len(ROOT.parts)] in OURS
        and "pywrapcp" in p.read_text(encoding="utf-8")
    ]
    assert all(u == "optimizer/model.py" for u in users), users
