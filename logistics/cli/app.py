"""The `wasteroute` command line: the Typer app, its global options, and the commands
of cli/*_cmds.py registered on it (the composition root). Only the CLI prints.

A command's module is imported when that command runs (or when help lists it): a
short command such as `metrics --json` does not start the planning stack, the web
server's settings or the importers (docs/decisions/0012).
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup
from typer.main import get_command

from logistics.cli.common import GLOBAL_OPTIONS, DbOpt, user_errors

#: command -> (module under logistics.cli, function), in the order `wasteroute --help`
#: lists them; USERS_GROUP stands for the `users` sub-commands (USERS_COMMANDS)
USERS_GROUP = "users"
COMMANDS: dict[str, tuple[str, str]] = {
    "import": ("data_cmds", "import_cmd"),
    "export": ("data_cmds", "export_cmd"),
    "demo": ("data_cmds", "demo"),
    "plan": ("plan_cmds", "plan"),
    "sheets": ("report_cmds", "sheets"),
    "metrics": ("report_cmds", "metrics"),
    "dashboards": ("report_cmds", "dashboards"),
    "serve": ("admin_cmds", "serve"),
    "worker": ("admin_cmds", "worker"),
    "bench": ("admin_cmds", "bench"),
    "replan": ("plan_cmds", "replan"),
    "forecast": ("plan_cmds", "forecast"),
    "reconcile": ("report_cmds", "reconcile"),
    "master-routes": ("plan_cmds", "master_routes"),
    USERS_GROUP: ("admin_cmds", ""),  # help lists groups after the commands
}
USERS_COMMANDS: dict[str, str] = {
    "add": "users_add",
    "list": "users_list",
    "deactivate": "users_deactivate",
    "passwd": "users_passwd",
    "keys": "users_keys",
    "revoke-key": "users_revoke_key",
}


def _users_app(module: Any) -> typer.Typer:
    users = typer.Typer(name=USERS_GROUP, help="API users / 接口用户", no_args_is_help=True,
                        add_completion=False)
    for name, fn in USERS_COMMANDS.items():
        users.command(name)(user_errors(getattr(module, fn)))
    return users


def load_command(name: str) -> Any:
    """The click command of ``name``, its module imported now; None if there is none."""
    if name not in COMMANDS:
        return None
    module_name, fn = COMMANDS[name]
    module = importlib.import_module(f"logistics.cli.{module_name}")
    if name == USERS_GROUP:
        return get_command(_users_app(module))
    one = typer.Typer(add_completion=False)
    one.command(name)(user_errors(getattr(module, fn)))
    return get_command(one)


class LazyGroup(TyperGroup):
    """The app's group: commands built from their modules on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            cmd = load_command(cmd_name)
            if cmd is None:
                return None
            self.commands[cmd_name] = cmd
        return self.commands[cmd_name]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in COMMANDS:  # "did you mean" needs every command's name
            for name in COMMANDS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="wasteroute",
    help="wasteroute: waste collection planning for county sanitation bureaus / 县域环卫收运规划",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=LazyGroup,
)


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
    GLOBAL_OPTIONS["db"] = db
