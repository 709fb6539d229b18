"""What every command shares: the consoles, the --db option, the error wrapper and the
solver options. Only the CLI prints."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from logistics.domain import BadInput, DomainError, ImportRejected
from logistics.persistence.db import Session, session_scope, upgrade

if TYPE_CHECKING:
    from rich.console import Console

    from optimizer.params import SolveParams

    #: the consoles of stdout and stderr (see console())
    out: Console
    err: Console

_CONSOLES: dict[str, Console] = {}


def console(name: str) -> Console:
    """The console ``out`` (stdout) or ``err`` (stderr), made on first use: a command
    that writes JSON alone never starts rich."""
    if name not in _CONSOLES:
        from rich.console import Console

        _CONSOLES[name] = Console(stderr=name == "err")
    return _CONSOLES[name]


def __getattr__(name: str) -> Console:
    # `from logistics.cli.common import out, err` gets the consoles through this
    if name in ("out", "err"):
        return console(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL (default: $WASTEROUTE_DB or sqlite:///wasteroute.db)"),
]
SeedOpt = Annotated[
    int, typer.Option("--seed", help="solver random seed (same seed and --solution-limit: same plan)")
]
SolutionLimitOpt = Annotated[
    int | None,
    typer.Option("--solution-limit", help="stop the search after this many solutions (reproducible plans)", min=1),
]
ClusterOpt = Annotated[
    str | None,
    typer.Option("--cluster", help="planning cluster for large days: local, local:N or "
                 "tcp://HOST:8786 (default $WASTEROUTE_CLUSTER, else local, one worker per "
                 "core) / 规划集群"),
]

F = TypeVar("F", bound=Callable[..., Any])

#: options given before the command (wasteroute --db URL plan ...)
GLOBAL_OPTIONS: dict[str, Any] = {}


def db_url(db: str | None) -> str | None:
    """Per-command --db wins over the global one; None means environment/default."""
    return db or GLOBAL_OPTIONS.get("db")


@contextmanager
def migrated_session(db: str | None) -> Iterator[Session]:
    """The command's one transaction, on the database of --db brought to the newest
    migration first."""
    url = db_url(db)
    upgrade(url)
    with session_scope(url) as session:
        yield session


def solve_params(seed: int, solution_limit: int | None,
                 cluster: str | None = None) -> SolveParams:
    """Solver parameters of --seed, --solution-limit and --cluster (the time limit is
    set by the planning call)."""
    from optimizer.params import SolveParams  # the optimizer only for commands that plan

    return SolveParams(seed=seed, solution_limit=solution_limit, cluster=cluster)


def user_errors(fn: F) -> F:
    """Turn domain errors (bad files, bad requests) into messages and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ImportRejected as exc:
            for e in exc.errors:
                console("err").print(str(e), markup=False, highlight=False, soft_wrap=True)
            console("err").print(
                f"rejected / 已拒绝: {len(exc.errors)} problem(s), nothing written / 未写入任何数据",
                markup=False,
            )
            raise typer.Exit(2) from None
        except DomainError as exc:
            console("err").print(f"error / 错误: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")


def say(text: str) -> None:
    """One plain line on stdout (no markup, no highlighting)."""
    console("out").print(text, markup=False, highlight=False)


def say_path(path: Path | str) -> None:
    """A path on a line of its own, never wrapped, so that it can be copied."""
    console("out").print(str(path), markup=False, highlight=False, soft_wrap=True)


def check_out_file(path: Path) -> None:
    """--out must name a file in a folder that exists."""
    if path.is_dir():
        raise BadInput(f"--out {path} is a folder; give a file name")
    if not path.parent.exists():
        raise BadInput(f"--out {path}: folder {path.parent} does not exist")


def write_document(path: Path, doc: Any) -> None:
    """Write a JSON document in one step (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
