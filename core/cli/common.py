"""What the command modules share: option types and their checks, shell completion, and the text
helpers tables use. Imports no command module; domain work is the service's (``hwprof.service``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ..data import checks, registry
from ..errors import HwprofError
from ..service.session import current
from .render import number, warn


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


warned: set[str] = set()  # warnings printed in this invocation (``main`` clears it)


def warn_once(text: str) -> None:
    """A warning, unless this invocation printed it already (loading commands and records both
    report a broken plugin)."""
    if text not in warned:
        warned.add(text)
        warn(text)


def _completer(kind: str) -> Any:
    """Shell completion of the ids of one kind of record (typer calls it with the word typed so far).

    Reads the registry (cached on disk after the first run); its warnings are dropped, since
    anything printed would land in the user's command line.
    """

    def complete(incomplete: str) -> list[str]:
        try:
            ids = getattr(registry.get(current().settings()), kind)
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
    from .render import FORMATS

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
        help="Only these cost models, comma-separated (default: HWPROF_COST_MODEL, else every one loaded, the best "
        "price winning); 'none' to skip.",
    ),  # fmt: skip
]
SeqLenOpt = Annotated[
    int | None, typer.Option("--seq-len", callback=checked(checks.SEQ_LEN), help="Training sequence length in tokens.")
]


def lowered(value: str | None) -> str | None:
    """Precision names are lower case in every profile; FP8 on a command line means fp8."""
    return value.lower() if value is not None else None


TrainPrecisionOpt = Annotated[
    str, typer.Option("--precision", callback=lowered, help="Matmul precision: bf16, fp8, ...")
]
TrainStackOpt = Annotated[
    str | None,
    typer.Option(
        "--stack",
        help="Training software stack for every chip, e.g. nemo-megatron, torchtitan (default: each chip's own, its "
        "best-evidenced; a chip with no published run on it keeps its efficiency, borrowed, and widens the range).",
    ),
]
ServeStackOpt = Annotated[
    str | None,
    typer.Option(
        "--stack",
        help="Serving software stack for every chip, e.g. tensorrt-llm (default: each chip's own, its best-evidenced; "
        "a chip with no published run on it borrows its default stack's figures and widens the range).",
    ),
]
BaselineOpt = Annotated[
    str | None,
    typer.Option(
        "--baseline",
        autocompletion=complete_systems,
        help="Ratios against SYSTEM[:COST_MODEL] (default: the first system at its best price).",
    ),
]
RegionOpt = Annotated[str | None, typer.Option("--region", help="Region; default: the cheapest with a price.")]
PurchaseOpt = Annotated[str, typer.Option("--purchase", help="on-demand, capacity-block, spot, ...")]


def range_text(value: dict[str, float], unit: str = "", scale: float = 1.0) -> str:
    low, mid, high = (value[k] * scale for k in ("low", "expected", "high"))
    return f"{number(mid)} {unit} ({number(low)} to {number(high)})".replace("  ", " ")


def hardware_text(inputs: dict[str, Any]) -> str:
    chips = f"{inputs['chips']} x {inputs['chip']}"
    return chips if inputs["target"] == chips else f"{inputs['target']} = {chips}"


def days_text(seconds: float) -> str:
    if seconds >= 86400 * 1e12:  # a trillion days and more: not a number of digits to print
        return f"{seconds / 86400:.3g} days"
    return f"{seconds / 86400:,.1f} days" if seconds >= 86400 else f"{seconds / 3600:,.2f} hours"


def comma_list(flag: str, text: str | None, what: str, required: bool = False) -> list[str] | None:
    """The items of a comma-separated option, or None where it was not given. Given but blank, or an
    item twice, is refused: neither is what a reader of the command line would take it to ask."""
    if text is None:
        return None
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise HwprofError(f"{flag} is empty: give comma-separated {what}" + ("" if required else ", or leave it out"))
    twice = next((s for i, s in enumerate(items) if s in items[:i]), None)
    if twice is not None:
        raise HwprofError(f"{flag} names {twice} twice: give each once")
    return items
