"""The `wasteroute` command line: the Typer app, its global options, and the commands
of cli/*_cmds.py registered on it (the composition root). Only the CLI prints."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from logistics.cli import admin_cmds, data_cmds, plan_cmds, report_cmds
from logistics.cli.common import GLOBAL_OPTIONS, DbOpt, user_errors

app = typer.Typer(
    name="wasteroute",
    help="wasteroute: waste collection planning for county sanitation bureaus / 县域环卫收运规划",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
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


# in the order `wasteroute --help` lists them
app.command("import")(user_errors(data_cmds.import_cmd))
app.command("export")(user_errors(data_cmds.export_cmd))
app.command()(user_errors(data_cmds.demo))
app.command()(user_errors(plan_cmds.plan))
app.command()(user_errors(report_cmds.sheets))
app.command()(user_errors(report_cmds.metrics))
app.command()(user_errors(report_cmds.dashboards))
app.command()(user_errors(admin_cmds.serve))

users_app = typer.Typer(help="API users / 接口用户", no_args_is_help=True)
app.add_typer(users_app, name="users")
users_app.command("add")(user_errors(admin_cmds.users_add))
users_app.command("list")(user_errors(admin_cmds.users_list))
users_app.command("deactivate")(user_errors(admin_cmds.users_deactivate))
users_app.command("passwd")(user_errors(admin_cmds.users_passwd))
users_app.command("keys")(user_errors(admin_cmds.users_keys))
users_app.command("revoke-key")(user_errors(admin_cmds.users_revoke_key))

app.command()(user_errors(admin_cmds.worker))
app.command()(user_errors(admin_cmds.bench))
app.command()(user_errors(plan_cmds.replan))
app.command()(user_errors(plan_cmds.forecast))
app.command()(user_errors(report_cmds.reconcile))
app.command("master-routes")(user_errors(plan_cmds.master_routes))
