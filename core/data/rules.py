"""What a profile's values must be beyond their types: the range of each number, and the rules
that tie fields together (a derived figure says how, memory in one unit, active parameters at most
all of them). The TOML reader (``schema``) applies them to profiles and plugin records alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ..errors import did_you_mean
from . import checks, records
from .checks import Bound

# Numbers with a range of their own; any other whole number is a count up to a billion, any other
# number lies between 1e-9 and 1e18 (hwprof.data.checks says why). A figure's value takes the
# range of the field holding the figure.
DEFAULT_COUNT = checks.count("a count")
DEFAULT_NUMBER = Bound("a number", checks.PROFILE_LOW, checks.PROFILE_HIGH)
FIELD_BOUNDS: dict[tuple[type, str], Bound] = {
    (records.System, "chips"): checks.CHIPS,
    (records.Chip, "training_efficiency"): Bound("training efficiency", 0, 4, above=True),
    (records.Chip, "matmul_half_width"): Bound("matmul half width", 0, 1e5, above=True),
    (records.Chip, "ranks_per_chip"): Bound("ranks per chip", 1, 1024),  # 0.5 would leave no rank at all
    (records.Price, "usd_per_hour"): Bound("price per hour", 1e-6, 1e9),
    (records.Workload, "params"): checks.PARAMS,
    (records.Workload, "active_params"): checks.PARAMS,
    (records.Workload, "layers"): checks.LAYERS,
    (records.Workload, "hidden"): checks.HIDDEN,
    (records.Workload, "heads"): checks.HEADS,
    (records.Workload, "kv_heads"): checks.HEADS,
    (records.Workload, "sliding_window"): checks.SEQ_LEN,
    (records.Workload, "seq_len"): checks.SEQ_LEN,
    (records.Workload, "train_tokens"): checks.TOKENS,
    (records.ValidationCase, "chips"): checks.CHIPS,
    (records.ValidationCase, "tokens"): checks.TOKENS,
    (records.ValidationCase, "batch"): checks.BATCH,
    (records.ValidationCase, "seq_len"): checks.SEQ_LEN,
    (records.ValidationCase, "input_tokens"): checks.REQUEST_TOKENS,
    (records.ValidationCase, "output_tokens"): checks.REQUEST_TOKENS,
}


def _check_figure(raw: dict[str, Any]) -> list[tuple[str, str]]:
    if raw.get("status") == "derived" and not raw.get("how"):
        return [(".how", 'a derived figure must say how it was derived (e.g. how = "3,958 / 2")')]
    return []


# Tables whose keys come from a fixed list (the reader and the JSON Schema both enforce it).
KEYED_BY: dict[tuple[type, str], tuple[str, ...]] = {
    (records.Chip, "peak_dense_tflops"): records.PRECISIONS,
    (records.Chip, "peak_sparse_tflops"): records.PRECISIONS,
}


def _check_chip(raw: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    memory = [k for k in ("memory_gib", "memory_gb") if k in raw]
    if len(memory) != 1:
        found.append(
            (".memory_gib", "give memory capacity once, as memory_gib or memory_gb, in the unit the source states")
        )
    for table in (name for cls, name in KEYED_BY if cls is records.Chip):
        peaks = raw.get(table)
        for precision in peaks if isinstance(peaks, dict) else ():
            if precision not in records.PRECISIONS:
                hint = did_you_mean(precision, list(records.PRECISIONS))
                found.append(
                    (f".{table}.{precision}", f"unknown precision{hint}; known: {', '.join(records.PRECISIONS)}")
                )
    return found


def _check_price(raw: dict[str, Any]) -> list[tuple[str, str]]:
    purchase = raw.get("purchase")
    if isinstance(purchase, str) and purchase not in records.PURCHASE_OPTIONS:
        hint = did_you_mean(purchase, list(records.PURCHASE_OPTIONS))
        return [(".purchase", f"unknown purchase option{hint}; known: {', '.join(records.PURCHASE_OPTIONS)}")]
    return []


def _check_interconnect(raw: dict[str, Any]) -> list[tuple[str, str]]:
    efficiency = raw.get("efficiency")
    value = efficiency.get("value") if isinstance(efficiency, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 1:
        return [(".efficiency.value", f"efficiency is a share of the bandwidth (0-1), got {value:g}")]
    return []


def _check_workload(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Counts that only make sense together (``hwprof.data.shape``: the one check for every way a
    shape arrives)."""
    from . import shape

    return [(f".{field}", message) for field, message in shape.problems(**{k: raw.get(k) for k in shape.FIELDS})]


RECORD_CHECKS: dict[type, Callable[[dict[str, Any]], list[tuple[str, str]]]] = {
    records.Figure: _check_figure,
    records.Interconnect: _check_interconnect,
    records.Chip: _check_chip,
    records.Workload: _check_workload,
    records.Price: _check_price,
    records.MissingPrice: _check_price,
}


# Raise when a rule changes what the reader accepts: parsed profiles cached under the old rules then miss.
RULES_VERSION = 2


def _figure(value: float) -> str:
    if value == int(value) and abs(value) < 1e10:
        return f"{int(value):,}"
    return f"{value:,g}".replace("e+", "e")


@attrs.frozen
class Plausible:
    """Where a figure of one field can lie (outside ``low..high``: an error, no chip has it) and where
    it usually lies (outside ``usual``: a warning). ``units`` are what a vendor may have typed instead,
    each with the factor that turns it into this field's unit, so the message can ask "is it in GB/s?"."""

    unit: str
    low: float
    high: float
    usual: tuple[float, float]
    units: tuple[tuple[str, float], ...] = ()

    def text(self) -> str:
        """'0.01..100 TB/s (usually 0.1..30)': what the reference and the schema show."""
        usual = f"{_figure(self.usual[0])}..{_figure(self.usual[1])}"
        return f"{_figure(self.low)}..{_figure(self.high)} {self.unit} (usually {usual})"

    def judge(self, value: float) -> tuple[str, str] | None:
        """("error" or "warning", message) for a value outside the ranges, or None."""
        shown = f"{_figure(value)} {self.unit}"
        hint = next((f": is it in {unit}?" for unit, factor in self.units
                     if self.usual[0] <= value * factor <= self.usual[1]), "")  # fmt: skip
        if not self.low <= value <= self.high:
            return "error", f"{shown} is outside {_figure(self.low)}..{_figure(self.high)} {self.unit}{hint or ''}"
        if not self.usual[0] <= value <= self.usual[1]:
            usual = f"{_figure(self.usual[0])}..{_figure(self.usual[1])} {self.unit}"
            return "warning", f"{shown} is unusual (most lie in {usual}){hint or ': check the figure and its unit'}"
        return None


_TFLOPS = Plausible("TFLOPS", 1e-3, 1e6, (0.1, 100_000), (("GFLOPS", 1e-3), ("FLOP/s", 1e-12), ("PFLOPS", 1e3)))
_LINK = Plausible("GB/s", 0.01, 100_000, (1, 10_000), (("MB/s", 1e-3), ("Mb/s", 1.25e-4), ("TB/s", 1e3)))
# Each figure's value (and its alternatives') takes the range of the field holding the figure.
PLAUSIBLE: dict[tuple[type, str], Plausible] = {
    (records.Chip, "memory_bandwidth_tbps"): Plausible("TB/s", 0.01, 100, (0.1, 30), (("GB/s", 1e-3), ("MB/s", 1e-6))),
    (records.Chip, "peak_dense_tflops"): _TFLOPS,
    (records.Chip, "peak_sparse_tflops"): _TFLOPS,
    (records.Chip, "memory_gib"): Plausible("GiB", 0.01, 100_000, (1, 2048), (("MiB", 2**-10), ("bytes", 2**-30))),
    (records.Chip, "memory_gb"): Plausible("GB", 0.01, 100_000, (1, 2048), (("MB", 1e-3), ("bytes", 1e-9))),
    (records.Chip, "sram_mib"): Plausible("MiB", 0.01, 1_000_000, (1, 100_000), (("KiB", 2**-10), ("bytes", 2**-20))),
    (records.Chip, "tdp_w"): Plausible("W", 1, 100_000, (10, 5_000), (("kW", 1e3),)),
    (records.Interconnect, "bandwidth_per_chip_gb_s"): _LINK,
    (records.Interconnect, "bandwidth_per_system_gb_s"): attrs.evolve(_LINK, high=10_000_000, usual=(1, 1_000_000)),
    (records.Interconnect, "latency_us"): Plausible("us", 1e-4, 1e6, (0.05, 1_000), (("ns", 1e-3), ("ms", 1e3))),
    # The reader's bound (1e-6..1e9 USD/h) is the error; this adds only the warning.
    (records.Price, "usd_per_hour"): Plausible("USD/h", 1e-6, 1e9, (0.01, 10_000), (("USD per month", 1 / 730),)),
}


# What the estimates do when an optional field is left out: the defaults a vendor would otherwise
# have to read the code for. The JSON Schema carries them (x-when-missing) and docs/profiles.md
# shows them; figures quoted here are tested against the constants they name (comm.DEFAULT_*).
WHEN_MISSING: dict[tuple[type, str], str] = {
    (records.Chip, "memory_gib"): "give memory_gb instead: exactly one of the two",
    (records.Chip, "memory_gb"): "give memory_gib instead: exactly one of the two",
    (records.Chip, "peak_sparse_tflops"): "no sparse peaks: aggregates show dense only",
    (records.Chip, "sram_mib"): "shown only; no estimate reads it",
    (records.Chip, "tdp_w"): "no energy (kWh) or power in estimates",
    (records.Chip, "scale_up"): "a bare --chip target joins no chips: one chip only (name a system for more)",
    (records.Chip, "weight_only"): "no weight-only formats offered when serving",
    (records.Chip, "prefill_efficiency"): "the default serving stack's own figure, else borrowed, else 1",
    (records.ServingStack, "prefill_efficiency"): "the same chip's stacks on the same runtime, then the nearest "
    "chips' (as the per-layer floors); none in reach: 1, the serving model's prompt compute fraction as calibrated",
    (records.Chip, "training_efficiency"): "1: the reference stacks' matmul rate",
    (records.Chip, "ranks_per_chip"): "1: one rank drives the whole chip",
    (records.Chip, "training_stack"): "estimates name no training stack: the chip's calibration runs' stack",
    (records.Chip, "training_stacks"): "only the stacks its default and published runs name",
    (records.Chip, "serving_stack"): "its only described serving stack, else none (no stack floors)",
    (records.Chip, "evidence_from"): "only its own published runs are its evidence",
    (records.Chip, "nearest"): "a chip with no runs of its own borrows no chip's factor (1)",
    (records.Chip, "matmul_half_width"): "the model's default half width",
    (
        records.Interconnect,
        "topology",
    ): "nothing changes: the text is shown only; collective steps follow all_reduce_steps",
    (records.Interconnect, "latency_us"): "10 us per collective step assumed, and estimates say so",
    (records.Interconnect, "efficiency"): "0.8 of the per-direction bandwidth assumed, and estimates say so",
    (
        records.Interconnect,
        "all_reduce_steps",
    ): "steps grow as log2 of the chips per step kind (a ring or torus, not a switch)",
    (records.Interconnect, "bandwidth_per_system_gb_s"): "shown only; collectives use bandwidth_per_chip_gb_s",
    (records.Interconnect, "max_domain_chips"): "one domain joins every chip of the system (or bare-chip target)",
    (records.Tier, "domain_chips"): "the whole system is one domain of this interconnect",
    (records.System, "tiers"): "no links: a job on this system uses one chip",
    (records.System, "host"): "no host figures shown",
    (records.Figure, "how"): "required when status = 'derived'",
    (records.Price, "volatile"): "false: a list price, not a spot-like observation",
    (records.CostModel, "currency"): "USD",
    (records.Workload, "active_params"): "all parameters are active (a dense model)",
    (records.Workload, "kv_heads"): "as many as the attention heads (no grouped-query attention)",
    (records.Workload, "head_dim"): "hidden / heads",
    (records.Workload, "seq_len"): "--seq-len must be given for layouts",
    (records.Workload, "layers"): "no layout search: training estimates need --mfu",
    (records.Workload, "max_context"): "no context limit checked when serving",
    (records.Workload, "sliding_window"): "every layer caches the whole context",
    (records.Workload, "sliding_layers"): "none: every layer caches the whole context",
}
