"""What the command modules share: the session (settings and registry of one invocation), option
types, and turning options into workloads, clusters and quotes. Imports no command module.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import attrs
import typer

from hwprof.cli.render import note, number, warn
from hwprof.data import checks, registry
from hwprof.errors import HwprofError, did_you_mean


class OptionError(HwprofError):
    """An option value outside its range: a usage error (exit 2), one line naming the flag."""

    exit_code = 2


def checked(bound: checks.Bound) -> Callable[[typer.CallbackParam, Any], Any]:
    """An option callback refusing a value outside ``bound`` (see ``hwprof.data.checks``)::

        Layers = Annotated[int, typer.Option("--layers", callback=checked(checks.LAYERS))]

    An omitted option (``None``) passes; a repeated option has each value checked.
    """

    def callback(param: typer.CallbackParam, value: Any) -> Any:
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is not None and (problem := bound.problem(item)) is not None:
                raise OptionError(f"{param.opts[0] if param.opts else param.name}: {problem}")
        return value

    return callback


JsonFlag = Annotated[bool, typer.Option("--json", help="Print stable JSON instead of a table (--format json).")]


@attrs.define(eq=False, repr=False)  # no eq/repr: each attrs method costs start-up time
class Session:
    """One invocation's choices (strict mode, extra profile folders) and the registry they give.

    The global callback sets it for the invocation (the typer context's ``obj`` and a context
    variable); commands reach it through ``current_registry()``.
    """

    strict: bool = False
    profile_dirs: list[Path] = attrs.Factory(list)

    def settings(self) -> registry.Settings:
        return registry.Settings.from_env(strict=self.strict, profile_dirs=self.profile_dirs)

    def registry(self) -> registry.Registry:
        """The registry for this invocation; plugin warnings go to stderr once."""
        result = registry.get(self.settings())
        for message in result.warnings:
            warn_once(message)
        result.warnings.clear()
        return result


warned: set[str] = set()  # warnings printed in this invocation (``main`` clears it)


def warn_once(text: str) -> None:
    """A warning, unless this invocation printed it already (loading commands and records both
    report a broken plugin)."""
    if text not in warned:
        warned.add(text)
        warn(text)


_session: contextvars.ContextVar[Session] = contextvars.ContextVar("hwprof_session")


def begin(session: Session) -> None:
    """Make ``session`` the one commands of this invocation use."""
    _session.set(session)


def session() -> Session:
    return _session.get(None) or Session()


def current_registry() -> registry.Registry:
    """The registry of the command being run (built once per process)."""
    return session().registry()


def _completer(kind: str) -> Any:
    """Shell completion of the ids of one kind of record (typer calls it with the word typed so far).

    Reads the registry (cached on disk after the first run); its warnings are dropped, since
    anything printed would land in the user's command line.
    """

    def complete(incomplete: str) -> list[str]:
        try:
            ids = getattr(registry.get(session().settings()), kind)
        except Exception:  # completion must never fail loudly
            return []
        return sorted(i for i in ids if i.startswith(incomplete))

    return complete


complete_chips, complete_systems = _completer("chips"), _completer("systems")


def complete_system_list(incomplete: str) -> list[str]:
    """Completion of the last id in a comma-separated --systems list."""
    done, _, last = incomplete.rpartition(",")
    prefix = done + "," if done else ""
    return [prefix + s for s in complete_systems(last) if s not in done.split(",")]


complete_models, complete_cost_models = _completer("workloads"), _completer("cost_models")
complete_interconnects = _completer("interconnects")


def complete_formats(incomplete: str) -> list[str]:
    from hwprof.cli.render import FORMATS

    return [f for f in FORMATS if f.startswith(incomplete)]


FormatOpt = Annotated[
    str | None,
    typer.Option("--format", metavar="table|json|csv|markdown", autocompletion=complete_formats,
                 help="Output: table (default), json (same as --json), csv, or markdown with sources as footnotes."),
]  # fmt: skip
PlotOpt = Annotated[
    Path | None,
    typer.Option("--plot", metavar="FILE.png|.svg", help="Also draw the chart to this file (needs hwprof[plot])."),
]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", autocompletion=complete_models, help="A workload preset id (`hwprof models list`)."),
]
ParamsOpt = Annotated[
    float | None, typer.Option("--params", callback=checked(checks.PARAMS), help="Total parameters, e.g. 70e9.")
]
ActiveOpt = Annotated[
    float | None,
    typer.Option(
        "--active-params",
        callback=checked(checks.PARAMS.named("active parameters")),
        help="Parameters used per token (MoE).",
    ),
]
LayersOpt = Annotated[int | None, typer.Option("--layers", callback=checked(checks.LAYERS), help="Transformer layers.")]
HiddenOpt = Annotated[int | None, typer.Option("--hidden", callback=checked(checks.HIDDEN), help="Model width.")]
HeadsOpt = Annotated[int | None, typer.Option("--heads", callback=checked(checks.HEADS), help="Attention heads.")]
KvHeadsOpt = Annotated[
    int | None,
    typer.Option("--kv-heads", callback=checked(checks.HEADS.named("key/value heads")), help="Key/value heads (GQA)."),
]
ConfigOpt = Annotated[Path | None, typer.Option("--model-config", help="A local Hugging Face config.json.")]
SystemOpt = Annotated[
    str | None, typer.Option("--system", autocompletion=complete_systems, help="A system id (`hwprof systems list`).")
]
CountOpt = Annotated[int, typer.Option("--count", callback=checked(checks.SYSTEMS), help="How many systems.")]
ChipOpt = Annotated[
    str | None, typer.Option("--chip", autocompletion=complete_chips, help="A chip id, instead of --system.")
]
ChipsOpt = Annotated[
    int | None,
    typer.Option(
        "--chips", callback=checked(checks.CHIPS), help="How many chips (with --chip, or rounded up to whole systems)."
    ),
]
CostModelOpt = Annotated[
    str | None,
    typer.Option(
        "--cost-model",
        autocompletion=complete_cost_models,
        help="A cost model id (default: HWPROF_COST_MODEL, else the only one loaded, else the built-in one); "
        "'none' to skip.",
    ),  # fmt: skip
]
SeqLenOpt = Annotated[
    int | None, typer.Option("--seq-len", callback=checked(checks.SEQ_LEN), help="Training sequence length in tokens.")
]
TrainPrecisionOpt = Annotated[str, typer.Option("--precision", help="Matmul precision: bf16, fp8, ...")]
BaselineOpt = Annotated[
    str | None,
    typer.Option(
        "--baseline", autocompletion=complete_systems, help="Ratios against this system (default: the first)."
    ),
]
RegionOpt = Annotated[str | None, typer.Option("--region", help="Region; default: the cheapest with a price.")]
PurchaseOpt = Annotated[str, typer.Option("--purchase", help="on-demand, capacity-block, spot, ...")]


def cluster_from(system_id: str | None, count: int, chip_id: str | None, chips: int | None) -> Any:
    from hwprof.perf import cluster

    r = current_registry()
    if (system_id is None) == (chip_id is None):
        raise HwprofError("give the hardware once: `system` ID [`count` K] or `chip` ID `chips` N")
    if count < 1 or (chips is not None and chips < 1):
        raise HwprofError(f"`count` and `chips` must be at least 1, got {chips if chips is not None else count}")
    if system_id is not None:
        system = r.system(system_id)
        total = system.chips * count
        if chips:
            if chips > system.chips and chips % system.chips:
                low, high = chips // system.chips * system.chips, cluster.whole_systems(chips, system)
                raise HwprofError(f"`chips` {chips} is not a whole number of {system.id} ({system.chips} chips each): "
                                  f"use {low} or {high}, or `count`")  # fmt: skip
            if chips < system.chips:
                warn(f"--chips {chips}: {chips} of the {system.chips} chips of one {system.id}")
            total = chips
        return cluster.cluster_for(r.chip(system.chip), total, system, r.interconnects)
    if chips is None:
        raise HwprofError("`chip` needs `chips` N (how many)")
    return cluster.cluster_for(r.chip(chip_id), chips, None, r.interconnects)  # type: ignore[arg-type]


COST_MODEL_ENV = "HWPROF_COST_MODEL"


def chosen_cost_model(name: str | None) -> Any:
    """The cost model to price with: --cost-model, else HWPROF_COST_MODEL, else the only one loaded,
    else the only built-in one (so a profile the user adds never breaks a command that worked).
    None for 'none' or when none is loaded."""
    import os

    r = current_registry()
    if name is None and os.environ.get(COST_MODEL_ENV):
        name = os.environ[COST_MODEL_ENV]
        if name != "none" and name not in r.cost_models:
            raise HwprofError(f"{COST_MODEL_ENV}={name}: unknown cost model{did_you_mean(name, list(r.cost_models))}; "
                              f"known: {', '.join(sorted(r.cost_models)) or 'none'}")  # fmt: skip
    if name == "none":
        return None
    if name is not None:
        return r.cost_model(name)
    models = sorted(r.cost_models)
    if len(models) <= 1:
        return r.cost_models[models[0]] if models else None
    builtin = [m for m in models if _builtin(r, m)]
    if len(builtin) != 1:
        raise HwprofError(f"several cost models are loaded ({', '.join(models)}); choose one with `cost_model`, "
                          f"or set {COST_MODEL_ENV} to make one your default")  # fmt: skip
    others = ", ".join(m for m in models if m != builtin[0])
    note(f"priced with the built-in cost model {builtin[0]!r}; also loaded: {others} "
         f"(choose with --cost-model, or make one your default with {COST_MODEL_ENV}=ID)")  # fmt: skip
    return r.cost_models[builtin[0]]


def _builtin(r: registry.Registry, cost_model: str) -> bool:
    provider = r.provider("cost_models", cost_model)
    return any(p.builtin and provider == f"plugin {p.name!r}" for p in r.plugins)


def quote_for(cost_model: str | None, target: Any, purchase: str, region: str | None) -> Any:
    from hwprof.cost import pricing

    chosen = chosen_cost_model(cost_model) if target.system is not None else None
    if chosen is None:
        return None
    try:
        return pricing.quote(chosen, target.system, purchase, region)
    except HwprofError as exc:
        if target and region is None and purchase == "on-demand":
            warn(f"{exc.for_cli()}; no cost shown")
            return None
        raise HwprofError(
            f"{exc.detail} (choose with `purchase`/`region`, or pass `cost_model` none)",
            subject=exc.subject,
            value=exc.value,
        ) from None


def note_calibration(result: dict[str, Any], chip_id: str, kind: str) -> None:
    """Say whether any published result on this chip backs the efficiency defaults."""
    cases = [c.id for c in current_registry().validation_cases.values() if c.chip == chip_id and c.kind == kind]
    result["published_cases_for_chip"] = cases
    if not cases:
        warn(f"no published {kind} results for {chip_id} are on file: its efficiency comes from other chips' runs "
             "(see `hwprof validate`); treat the range as optimistic")  # fmt: skip


def range_text(value: dict[str, float], unit: str = "", scale: float = 1.0) -> str:
    low, mid, high = (value[k] * scale for k in ("low", "expected", "high"))
    return f"{number(mid)} {unit} ({number(low)} to {number(high)})".replace("  ", " ")


def hardware_text(inputs: dict[str, Any]) -> str:
    chips = f"{inputs['chips']} x {inputs['chip']}"
    return chips if inputs["target"] == chips else f"{inputs['target']} = {chips}"


def days_text(seconds: float) -> str:
    return f"{seconds / 86400:,.1f} days" if seconds >= 86400 else f"{seconds / 3600:,.2f} hours"


def purchase_options(pricing: Any, purchase: str, region: str | None, cost_models: list[Any]) -> list[str]:
    """The --purchase options in order of preference, after checking them and --region."""
    options = [p.strip() for p in purchase.split(",") if p.strip()]
    for option in options:
        pricing.check_purchase(option)
    if region is not None:
        pricing.check_region(region, sorted({r for m in cost_models for r in m.regions}), "the cost models have")
    return options


def first_quote(
    pricing: Any, cost_model: Any, system_id: str, options: list[str], region: str | None
) -> tuple[Any, str]:
    """The first purchase option (in the order given) with a price, or why there is none."""
    why = ""
    for option in options:
        if region is None or region in cost_model.regions:
            try:
                return pricing.quote(cost_model, current_registry().system(system_id), option, region), ""
            except HwprofError as exc:
                why = why or exc.for_cli()
                continue  # no price under this option: try the next
    gaps = [g.reason for option in options for g in pricing.missing_for(cost_model, system_id, option, region)]
    if not gaps and why and not hasattr(cost_model, "prices"):
        return None, why  # a cost model that computes its quotes says best why it has none
    where = f" in {region}" if region else ""
    return None, f"no {'/'.join(options)} price{where}" + (f": {gaps[0]}" if gaps else "")
