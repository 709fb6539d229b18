"""The `wasteroute` command line: the composition root. Only this module prints."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from logistics.domain import DomainError, ImportRejected

app = typer.Typer(
    name="wasteroute",
    help="wasteroute: waste collection planning for county sanitation bureaus / 县域环卫收运规划",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL (default: $WASTEROUTE_DB or sqlite:///wasteroute.db)"),
]

F = TypeVar("F", bound=Callable[..., Any])


#: options given before the command (wasteroute --db URL plan ...)
_GLOBAL: dict[str, Any] = {}


def _db(db: str | None) -> str | None:
    """Per-command --db wins over the global one; None means environment/default."""
    return db or _GLOBAL.get("db")


def user_errors(fn: F) -> F:
    """Turn domain errors (bad files, bad requests) into messages and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ImportRejected as exc:
            for e in exc.errors:
                err.print(str(e), markup=False, highlight=False, soft_wrap=True)
            err.print(
                f"rejected / 已拒绝: {len(exc.errors)} problem(s), nothing written / 未写入任何数据",
                markup=False,
            )
            raise typer.Exit(2) from None
        except DomainError as exc:
            err.print(f"error / 错误: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def main(
    db: DbOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    _GLOBAL["db"] = db


def _not_yet(what: str, issue: int) -> None:
    err.print(f"`wasteroute {what}` is not implemented yet (issue {issue}) / 尚未实现")
    raise typer.Exit(1)


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")


@app.command("import")
@user_errors
def import_cmd(
    paths: Annotated[list[Path], typer.Argument(help="CSV/XLSX files or folders")],
    kind: Annotated[
        str | None, typer.Option("--kind", help="depots|facilities|vehicles|communities|points|records|tickets")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Import CSV/XLSX files (all in one transaction) / 导入数据文件."""
    from logistics.imports import import_paths
    from logistics.persistence.db import session_scope, upgrade

    url = _db(db)
    upgrade(url)
    with session_scope(url) as session:
        report = import_paths(session, paths, kind=kind)
    for line in report.lines():
        out.print(line, markup=False, highlight=False)


@app.command()
@user_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="output folder")] = Path("wasteroute-demo"),
    seed: Annotated[int, typer.Option(help="random seed (deterministic output)")] = 2020,
    db: DbOpt = None,
) -> None:
    """Build the demo county, import it, plan the next day / 生成示范县数据并规划."""
    from logistics.demo import run_demo

    run_demo(out_dir=out_dir, seed=seed, db_url=_db(db), console=out)


@app.command()
def plan(date: Annotated[str, typer.Option()], db: DbOpt = None) -> None:
    """Plan the collections due on a date / 规划某日收运路线."""
    _not_yet("plan", 4)


@app.command()
def sheets(date: Annotated[str, typer.Option()]) -> None:
    """Route sheets for drivers / 司机路线单."""
    _not_yet("sheets", 5)


@app.command()
def metrics() -> None:
    """Official metrics with their inputs / 考核指标."""
    _not_yet("metrics", 6)


@app.command()
def dashboards() -> None:
    """Static dashboard pages / 静态看板."""
    _not_yet("dashboards", 6)


@app.command()
def serve() -> None:
    """HTTP API and live dashboards / 接口与实时看板."""
    _not_yet("serve", 8)


@app.command()
def bench() -> None:
    """Benchmarks against best-known solutions / 基准测试."""
    _not_yet("bench", 4)


@app.command()
def replan() -> None:
    """Re-plan the rest of a day after an event / 日内重新规划."""
    _not_yet("replan", 7)


@app.command()
def forecast() -> None:
    """Expected kg per point / 产量预测."""
    _not_yet("forecast", 7)


@app.command()
def reconcile() -> None:
    """Plan versus weighbridge and records / 计划与过磅对账."""
    _not_yet("reconcile", 7)


if __name__ == "__main__":  # pragma: no cover
    app()
