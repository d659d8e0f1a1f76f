"""Built-in plugin. AWS prices: on-demand, Capacity Block and spot prices per instance type and
region, each dated, and ``hwprof prices refresh``, which fetches current on-demand prices from the
AWS Price List Query API with the user's own credentials (optional extra: ``hwprof[aws]``).

The figures live in profiles/aws_pricing.toml, each with its source and status. The refresh code
lives in ``hwprof.plugins.aws_price_list`` and is imported only when the command runs.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer

from hwprof import hookimpl
from hwprof.cli.render import dump_json, echo, number, table, warn
from hwprof.data.toml_plugin import TomlPlugin

GROUP = "prices"
DIR_ENV = "HWPROF_PRICE_DIR"


class AwsPricing(TomlPlugin):
    """The AWS cost model from TOML, plus the ``refresh`` command in the ``prices`` group."""

    @hookimpl
    def hwprof_register_commands(self, cli: typer.Typer) -> None:
        group = find_group(cli, GROUP)
        # The hook may run more than once per process (tests call the CLI repeatedly).
        if group is None or any(c.name == "refresh" for c in group.registered_commands):
            return
        group.command("refresh")(refresh)


def find_group(cli: typer.Typer, name: str) -> typer.Typer | None:
    """A command group already on the CLI, so a plugin can add a command to it."""
    for info in cli.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    return None


def default_folder() -> Path:
    """The user's profiles folder, which hwprof loads after the built-in plugins."""
    if os.environ.get(DIR_ENV):
        return Path(os.environ[DIR_ENV])
    from hwprof.data.places import user_config_dir

    return Path(user_config_dir()) / "profiles"


def refresh(
    region: Annotated[
        list[str] | None,
        typer.Option("--region", help="Region to refresh (repeatable; default: the regions already priced)."),
    ] = None,
    system: Annotated[
        list[str] | None,
        typer.Option("--system", help="Instance type to refresh (repeatable; default: every known instance)."),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help=f"Folder of the user price file (default: your hwprof profiles folder, or {DIR_ENV}).",
            file_okay=False,
        ),
    ] = None,  # fmt: skip
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Fetch and show, write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print stable JSON instead of a table.")] = False,
) -> None:
    """Fetch current AWS on-demand prices (Price List Query API, your credentials) into your price file.

    Needs boto3 (pip install 'hwprof[aws]'). The file overrides the built-in snapshot and keeps its
    Capacity Block and spot prices, and the prices you added; each refresh first copies the file to NAME.DATE.bak.
    """
    from hwprof.data.records import CostModel
    from hwprof.data.schema import load_resource
    from hwprof.errors import HwprofError, did_you_mean
    from hwprof.plugins import aws_price_list as api
    from hwprof.service.session import current_registry as reg

    r = reg()
    snapshot = next(m for m in load_resource(plugin.package, plugin.filename).cost_model if m.id == "aws")
    known = api.instance_types(r.systems.values())
    for name in system or []:
        if name not in known:
            raise HwprofError(f"--system {name}: not an AWS instance type hwprof knows{did_you_mean(name, known)}; "
                              f"known: {', '.join(known)}")  # fmt: skip
    types = list(system or known)
    current = r.cost_models.get("aws")
    listed = current.prices if isinstance(current, CostModel) else ()
    regions = list(region or sorted({p.region for p in (*snapshot.prices, *listed)}))
    api.check_regions(regions)
    client = api.make_client()
    folder = output_dir or default_folder()
    result = api.refresh(client, snapshot, types, regions, folder, dt.date.today(), dry_run)
    for message in result.warnings:
        warn(message)
    if as_json:
        echo(dump_json({"path": str(result.path), "written": result.written,
                        "backup": str(result.backup) if result.backup else None,
                        "observed": dt.date.today().isoformat(),
                        "changes": [c.as_json() for c in result.changes]}))  # fmt: skip
        return
    rows = [[c.system, c.region, number(c.before.usd_per_hour) if c.before else "-",
             c.before.observed.isoformat() if c.before else "-", number(c.usd_per_hour) if c.fetched else "-",
             "fetched" if c.fetched else c.note] for c in result.changes]  # fmt: skip
    echo(table(["instance", "region", "USD/h before", "observed", "USD/h now", "result"], rows))
    if not result.written:
        echo(f"\ndry run: {result.path} not written")
        return
    kept = f" (previous file kept as {result.backup})" if result.backup else ""
    elsewhere = output_dir or os.environ.get(DIR_ENV)  # not the folder hwprof loads by itself
    load = f"; load it with --profiles {folder} or HWPROF_PROFILE_PATH" if elsewhere else ""
    echo(f"\nwrote {result.path}{kept}; it overrides the built-in AWS prices{load}")


plugin = AwsPricing("hwprof.profiles", "aws_pricing.toml")
