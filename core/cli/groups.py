"""Options several commands take, declared once: the model, the hardware, the output.

A command takes a group as one parameter, with the empty group as its default::

    @estimate_app.command("train")
    @grouped
    def estimate_train(tokens: TokensOpt, model_opts: ModelOptions = ModelOptions(),
                       out: OutputOptions = OutputOptions()) -> None:
        work = model_opts.workload(seq_len)

``grouped`` spreads each group's fields into the signature typer reads, in the group's place (so
``--help`` lists them where they were), and hands the command one group built from them. Typer
has no option groups of its own; without this, every command spelled the same options again.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import attrs
import typer

from ..data import checks, records
from .common import (
    ActiveOpt,
    ChipOpt,
    ChipsOpt,
    ConfigOpt,
    CountOpt,
    FormatOpt,
    HeadsOpt,
    HiddenOpt,
    JsonFlag,
    KvHeadsOpt,
    LayersOpt,
    ModelOpt,
    ParamsOpt,
    PlotOpt,
    SystemOpt,
    checked,
)

F = TypeVar("F", bound=Callable[..., Any])


class OptionGroup:
    """Base of an option group: a frozen attrs class whose fields are annotated typer options, each
    with a default. A command module may define its own (``prices.PriceOptions``)."""


@attrs.frozen
class ModelOptions(OptionGroup):
    """The model, once: a preset (--model), a config.json (--model-config) or counts (--params ...)."""

    model: ModelOpt = None
    params: ParamsOpt = None
    active_params: ActiveOpt = None
    layers: LayersOpt = None
    hidden: HiddenOpt = None
    heads: HeadsOpt = None
    kv_heads: KvHeadsOpt = None
    model_config: ConfigOpt = None

    def workload(self, seq_len: int | None = None) -> records.Workload:
        """The ``records.Workload`` these options name (``seq_len`` is kept for counts given directly)."""
        from ..service.workload import resolve

        return resolve(self.model, params=self.params, active_params=self.active_params, layers=self.layers,
                       hidden=self.hidden, heads=self.heads, kv_heads=self.kv_heads, model_config=self.model_config,
                       seq_len=seq_len)  # fmt: skip


@attrs.frozen
class HardwareOptions(OptionGroup):
    """The hardware, once: --system ID [--count K], or --chip ID --chips N."""

    system: SystemOpt = None
    count: CountOpt = 1
    chip: ChipOpt = None
    chips: ChipsOpt = None

    def cluster(self) -> Any:
        """The ``perf.cluster.Cluster`` these options name."""
        from ..service.hardware import cluster_from

        return cluster_from(self.system, self.count, self.chip, self.chips)


SpecTokensOpt = Annotated[int, typer.Option("--spec-tokens", callback=checked(checks.SPEC_TOKENS), help="Speculative decoding: tokens a draft (or MTP "
                                             "head) proposes per step; needs --spec-accepted.")]  # fmt: skip
SpecAcceptedOpt = Annotated[float | None, typer.Option("--spec-accepted", callback=checked(checks.SPEC_ACCEPTED), help="Speculative decoding: tokens one step "
                                                       "emits on average, the verified one included (1 to "
                                                       "--spec-tokens + 1).")]  # fmt: skip
PrefixCachedOpt = Annotated[float, typer.Option("--prefix-cached", callback=checked(checks.PREFIX_CACHED), help="Prefix caching: the share of each prompt "
                                                "already in the cache (0 to below 1), not prefilled.")]  # fmt: skip


@attrs.frozen
class ServeFeatures(OptionGroup):
    """Serving features that change the work per token: speculative decoding and prefix caching."""

    spec_tokens: SpecTokensOpt = 0
    spec_accepted: SpecAcceptedOpt = None
    prefix_cached: PrefixCachedOpt = 0.0

    def options(self) -> Any:
        """The ``perf.serve.options.ServeOptions`` these name (checked)."""
        from ..service.estimate import serve_options

        return serve_options(self.spec_tokens, self.spec_accepted, self.prefix_cached)


@attrs.frozen
class OutputOptions(OptionGroup):
    """How results are shown: --json or --format, and a chart with --plot."""

    as_json: JsonFlag = False
    fmt: FormatOpt = None
    plot: PlotOpt = None

    def format(self) -> str:
        """The format asked for; a --plot path that cannot be written is refused before any work."""
        from .plot import check_path
        from .render import output_format

        fmt = output_format(self.fmt, self.as_json)
        if self.plot is not None:
            check_path(self.plot)
        return fmt


@functools.cache
def _options(group: Any) -> tuple[inspect.Parameter, ...]:
    hints = typing.get_type_hints(group, include_extras=True)
    return tuple(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
                 for f in attrs.fields(group))  # fmt: skip


def grouped(command: F) -> F:
    """``command`` as typer should see it: each parameter whose default is an ``OptionGroup`` spread
    into that group's options, collected back into one group when typer calls it."""
    spread: list[inspect.Parameter] = []
    groups: dict[str, Any] = {}
    for param in inspect.signature(command, eval_str=True).parameters.values():
        if isinstance(param.default, OptionGroup):
            groups[param.name] = type(param.default)
            spread += _options(groups[param.name])
        else:
            spread.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    names = [p.name for p in spread]
    if len(set(names)) != len(names):
        raise TypeError(f"{command.__name__}: an option group repeats a parameter name: {names}")

    @functools.wraps(command)
    def run(**given: Any) -> Any:
        for name, group in groups.items():
            given[name] = group(**{f.name: given.pop(f.name) for f in attrs.fields(group) if f.name in given})
        return command(**given)

    run.__signature__ = inspect.Signature(spread)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in spread}
    del run.__wrapped__  # typer must read the spread signature, not the command's
    return typing.cast(F, run)
