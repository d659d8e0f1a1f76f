"""``hwprof plan``: the cheapest or fastest configuration that meets a deadline or a budget."""

from __future__ import annotations

from typing import Annotated

import typer

from hwprof.core import hookimpl
from hwprof.core.cli.common import (
    ActiveOpt,
    ConfigOpt,
    CostModelOpt,
    HeadsOpt,
    HiddenOpt,
    JsonFlag,
    KvHeadsOpt,
    LayersOpt,
    ModelOpt,
    ParamsOpt,
    RegionOpt,
    checked,
    chosen_cost_model,
    current_registry,
    days_text,
    first_quote,
    purchase_options,
    shape_from,
)
from hwprof.core.cli.render import dump_json, echo, number, table
from hwprof.core.data import checks

plan_app = typer.Typer(
    help="The cheapest or fastest configuration that meets a deadline or a budget.", no_args_is_help=True
)


@plan_app.command("train")
def plan_train_cmd(
    tokens: Annotated[float, typer.Option("--tokens", callback=checked(checks.TOKENS), help="Training tokens.")],
    model: ModelOpt = None, params: ParamsOpt = None, active_params: ActiveOpt = None, layers: LayersOpt = None,
    hidden: HiddenOpt = None, heads: HeadsOpt = None, kv_heads: KvHeadsOpt = None, model_config: ConfigOpt = None,
    seq_len: Annotated[int | None, typer.Option("--seq-len", callback=checked(checks.SEQ_LEN), help="Training sequence length in tokens.")] = None,
    deadline_days: Annotated[float | None, typer.Option("--deadline-days", callback=checked(checks.DAYS), help="Finish within this many days.")] = None,
    budget: Annotated[float | None, typer.Option("--budget", callback=checked(checks.USD), help="Spend at most this many USD.")] = None,
    systems: Annotated[str | None, typer.Option("--systems", help="Comma-separated system ids (default: all priced).")] = None,
    precision: Annotated[str, typer.Option("--precision", help="Matmul precision: bf16, fp8, ...")] = "bf16",
    cost_model: CostModelOpt = None, region: RegionOpt = None,
    purchase: Annotated[str, typer.Option("--purchase", help="Purchase options in order of preference.")] = "on-demand",
    as_json: JsonFlag = False,
) -> None:  # fmt: skip
    """For each system, the fewest that fit and meet the deadline, its time and cost; cheapest and fastest marked."""
    from hwprof.core.cost import pricing
    from hwprof.core.perf import plan

    r = current_registry()
    shape = shape_from(model, params, active_params, layers, hidden, heads, kv_heads, model_config, seq_len)
    chosen_model = chosen_cost_model(cost_model)
    if systems:
        ids = [s.strip() for s in systems.split(",") if s.strip()]
    else:
        ids = sorted(chosen_model.priced_systems() & set(r.systems)) if chosen_model else sorted(r.systems)
    options = purchase_options(pricing, purchase, region, [chosen_model] if chosen_model else [])
    candidates = []
    for system_id in ids:
        system = r.system(system_id)
        quote = first_quote(pricing, chosen_model, system_id, options, region)[0] if chosen_model else None
        candidates.append((system, r.chip(system.chip), quote))
    rows = plan.plan_train(shape, candidates, r.interconnects, tokens, precision, seq_len,
                           deadline_days * 86400 if deadline_days is not None else None, budget)  # fmt: skip
    if as_json:
        echo(dump_json({"deadline_days": deadline_days, "budget_usd": budget, "options": rows}))
        return
    table_rows = []
    for row in rows:
        if "skipped" in row:
            table_rows.append([row["system"], "-", "-", "-", "-", row["skipped"]])
            continue
        marks = [m for m in ("cheapest", "fastest") if row.get(m)]
        if not row["meets_deadline"]:
            verdict = "misses deadline"
        elif row["meets_budget"] is False:
            verdict = "over budget"
        elif budget is not None and row["meets_budget"] is None:
            verdict = "no price"
        else:
            verdict = "ok"
        table_rows.append([row["system"], f"{row['count']} ({row['chips']} chips)", days_text(row["time_s"]["expected"]),
                           number(row["cost_usd"]["expected"]) if row["cost_usd"] else "- (no price)",
                           f"{row['mfu']:.0%}", " ".join([verdict, *marks])])  # fmt: skip
    goal = ", ".join(g for g in (f"deadline {deadline_days:g} days" if deadline_days else "",
                                 f"budget {budget:,.0f} USD" if budget else "") if g) or "fewest systems that fit"  # fmt: skip
    echo(table(["system", "count", "time", "cost USD", "MFU", "verdict"], table_rows,
               title=f"{shape.name}, {tokens:.3g} tokens, {precision}; goal: {goal}"))  # fmt: skip


# ----------------------------------------------------------------------------- validate


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    cli.add_typer(plan_app, name="plan")
