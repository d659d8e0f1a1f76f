"""One workload on several systems (and cost models): a row per pair, ratios against a baseline.

``hwprof compare`` renders these; ``hwprof.compare_train`` and ``hwprof.compare_serve`` return them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from ..errors import HwprofError
from . import costs, stacks
from .estimate import on_stack
from .session import current_registry
from .stacks import published_chips


def _systems(systems: Iterable[str], baseline: str | None, cost_models: int = 1) -> tuple[list[str], str]:
    """The system ids to compare and the baseline among them (default: the first).

    One system is enough when several cost models are compared on it.
    """
    ids = [s.strip() for s in systems if s.strip()]
    if len(ids) < (1 if cost_models > 1 else 2):
        raise HwprofError(
            "`systems` needs at least two system ids, separated by commas (or one with several `cost_models`)"
        )
    if baseline is not None and baseline.split(":")[0] not in ids:
        raise HwprofError(f"`baseline` {baseline} is not one of `systems` {','.join(ids)}")
    return ids, baseline or ids[0]


BASELINE_RULE = "the first of the systems at its best price (--baseline SYSTEM[:COST_MODEL] chooses another)"
# Like-for-like (issue 19): each chip on its own default stack, the one its published runs used, so
# each at its best-evidenced software, as a claim of one chip against another is made; one stack
# forced on all would leave most rows borrowed. Rows on different evidence are said so in one line.
STACK_RULE = "each chip on its own default stack, its best-evidenced (--stack NAME puts every row on one)"


def stack_rule(stack: str | None) -> str:
    """Which software stack each row assumes, in words."""
    if stack is None:
        return STACK_RULE
    return f"every row on {stack} (--stack); a chip with no published run on it keeps its efficiency, borrowed, the range widened"


@attrs.frozen
class Comparison:
    """One workload on several systems and cost models: a row per system and cost model that prices
    it (one unpriced row for a system none prices), ratios against ``baseline`` (a row's label)."""

    baseline: str
    rows: tuple[dict[str, Any], ...]  # system, label, cost_model, chips, result, ratios, missing_price
    finding: str = ""
    baseline_rule: str = BASELINE_RULE
    stack_rule: str = STACK_RULE
    evidence_note: str = ""  # one line when rows rest on different evidence classes (service.stacks.mixed_note)


def compare_train_result(work: Any, tokens: float, systems: list[str], *, baseline: str | None = None,
                         chips: int | None = None, precision: str = "bf16", seq_len: int | None = None,
                         cost_models: list[str] | None = None, region: str | None = None,
                         purchase: str = "on-demand", global_batch_tokens: float | None = None,
                         stack: str | None = None) -> Comparison:  # fmt: skip
    """What ``compare train`` shows, as data (also ``hwprof.compare_train``): each chip on its own
    default training stack, or every one on ``stack`` (``STACK_RULE``)."""
    from ..jsonable import to_json
    from ..perf import cluster, ranges
    from ..perf.train import training

    r = current_registry()
    stack = stacks.checked(stack, "train")
    own = ranges.own_stacks(r.validation_cases.values(), "train")
    models, _ = costs.cost_models(cost_models)
    seq = seq_len or work.seq_len
    if global_batch_tokens is not None and not seq:
        raise HwprofError("needs the sequence length to count sequences", subject="global_batch_tokens")
    batch = max(1, round(global_batch_tokens / seq)) if global_batch_tokens and seq else None
    published = published_chips("train")
    if not systems:  # every system some cost model prices under the purchase preference
        systems = [i for i in sorted(r.systems) if costs.prices(r.system(i), cost_models, purchase, region).quotes]
    ids, base = _systems(systems, baseline, len(models))
    rows: list[dict[str, Any]] = []
    for system_id in ids:
        system = r.system(system_id)
        chip = r.chip(system.chip)
        want = chips or _job_chips(work, system, chip, r.interconnects, precision, seq_len, batch)
        target = cluster.cluster_for(chip, cluster.whole_systems(want, system), system, r.interconnects)
        costs.calibration_evidence(chip.id, "train")  # warns, as estimate does, when no published run backs the chip
        priced = costs.prices(system, cost_models, purchase, region)
        missing = "; ".join(f"{m}: {why}" for m, why in priced.gaps.items()) if models else "no cost model"
        for quote in priced.quotes or (None,):  # a row per cost model that prices it; no row for one that does not
            request = training.TrainRequest(work, target, tokens, precision, quote=quote, stack=stack,
                                            seq_len=seq_len, global_batch_seqs=batch)  # fmt: skip
            result = to_json(training.estimate_train(request, r.interconnects,
                                                     evidence=training.Evidence(published, own)))  # fmt: skip
            model_id = quote.cost_model if quote else None
            label = system_id + (f" [{model_id}]" if model_id and len(models) > 1 else "")
            rows.append({"system": system_id, "label": label, "cost_model": model_id, "chips": target.chips,
                         "stack": result["stack"], "evidence": result["range"]["evidence"],
                         "result": result, "missing_price": "" if quote else missing})  # fmt: skip
    chosen = _baseline_row(rows, base)
    out = _ratios(rows, chosen, "time_s")
    return Comparison(chosen["label"], tuple(out), _finding(out, chosen["label"]), stack_rule=stack_rule(stack),
                      evidence_note=_evidence_note(out))  # fmt: skip


def _evidence_note(rows: list[dict[str, Any]]) -> str:
    """One line when the rows' evidence classes differ (one per system)."""
    seen = {r["system"]: (r["system"], r["stack"], r["evidence"]) for r in rows}
    return stacks.mixed_note(seen.values())


def _baseline_row(rows: list[dict[str, Any]], baseline: str) -> dict[str, Any]:
    """The row ratios are taken against: SYSTEM's best-priced row, or SYSTEM:COST_MODEL's."""
    system, _, model = baseline.partition(":")
    mine = [r for r in rows if r["system"] == system]
    if model:
        picked = [r for r in mine if r["cost_model"] == model]
        if not picked:
            priced = ", ".join(r["cost_model"] for r in mine if r["cost_model"]) or "none"
            raise HwprofError(f"`baseline` {baseline}: {model} does not price {system} (priced by: {priced})")
        return picked[0]
    return mine[0]  # best first


def _job_chips(work: Any, system: Any, chip: Any, interconnects: dict[str, Any], precision: str,
               seq_len: int | None, batch: int | None) -> int:  # fmt: skip
    """The job ``estimate`` would run: one system when the model is known only by its size (no layout
    to fit), else the fewest systems on which some layout fits."""
    from ..perf import plan

    if not (work.layers and work.hidden and work.heads):
        return int(system.chips)
    request = plan.TrainPlanRequest(work, 1.0, precision, seq_len=seq_len, batch_seqs=batch, top=64)
    result = plan.plan_train(request, [(system, chip, [None])], interconnects)
    if not result.options:
        raise HwprofError(f"{system.id}: {result.reasons.get(system.id, 'no layout fits')}")
    return min(row.chips for row in result.options)


def _ratios(rows: list[dict[str, Any]], base: dict[str, Any], time_key: str) -> list[dict[str, Any]]:
    """Against ``base``: time_ratio (time / the baseline's: lower is faster), and speed and
    price-performance (higher is better) for tables that read one way."""
    base_cost = (base["result"].get("cost_usd") or {}).get("expected")
    tokens = base["result"]["inputs"]["tokens"]
    for row in rows:
        cost = (row["result"].get("cost_usd") or {}).get("expected")
        row["cost"] = cost
        row["tokens_per_usd"] = tokens / cost if cost else None
        row["time_ratio"] = row["result"][time_key]["expected"] / base["result"][time_key]["expected"]
        row["speed"] = 1 / row["time_ratio"]
        row["price_performance"] = base_cost / cost if cost and base_cost else None
        row["baseline"] = row is base
    return rows


def _finding(rows: list[dict[str, Any]], baseline: str) -> str:
    priced = [r for r in rows if r["price_performance"]]
    lines = []
    for row in priced:
        if row["label"] == baseline:
            continue
        gain = row["price_performance"] - 1
        verdict = "better" if gain > 0 else "worse"
        lines.append(f"{row['label']}: {abs(gain):.0%} {verdict} price-performance than the baseline at these prices "
                     f"and the step time its searched layout is expected to take; the ranking holds unless its real throughput "
                     f"is "
                     f"{'below' if gain > 0 else 'above'} {1 / row['price_performance']:.2f}x that expectation")  # fmt: skip
    for row in rows:
        if not row["cost"]:
            lines.append(f"not priced: {row['label']}: {row['missing_price'] or 'no cost model'}")
    return "\n".join(lines)


def compare_serve_result(work: Any, systems: list[str], *, baseline: str | None = None, precision: str = "bf16",
                         kv_precision: str = "bf16", batch: int = 1, input_tokens: int = 1000,
                         output_tokens: int = 500, cost_model: str | None = None, region: str | None = None,
                         purchase: str = "on-demand", stack: str | None = None) -> Comparison:  # fmt: skip
    """What ``compare serve`` shows, as data (also ``hwprof.compare_serve``); ``batch`` is the
    concurrency (users in a closed loop); each chip on its own default serving stack, or every one on
    ``stack`` (``STACK_RULE``)."""
    from ..perf import cluster
    from ..perf.serve import layout as serve_layout
    from ..perf.serve import serving

    r = current_registry()
    stack = stacks.checked(stack, "serve")
    models, _ = costs.cost_models(cost_model)
    ids, baseline = _systems(systems, baseline, len(models))
    out: list[dict[str, Any]] = []
    for system_id in ids:
        system = r.system(system_id)
        target = cluster.cluster_for(r.chip(system.chip), system.chips, system, r.interconnects)
        costs.calibration_evidence(system.chip, "serve")
        priced = costs.prices(system, cost_model, purchase, region)
        missing = "; ".join(f"{m}: {why}" for m, why in priced.gaps.items()) if models else "no cost model"
        lay = serve_layout.default_layout(target, precision, kv_precision, work.heads)
        for quote in priced.quotes or (None,):  # a row per cost model that prices it
            res = on_stack(work, target, lay, serving.Traffic(input_tokens, output_tokens, batch), quote, stack)
            label = system_id + (f" [{quote.cost_model}]" if quote and len(models) > 1 else "")
            out.append({"system": system_id, "label": label, "cost_model": quote.cost_model if quote else None,
                        "stack": res.stack, "evidence": res.range.evidence, "result": res,
                        "missing_price": "" if quote else missing})  # fmt: skip

    def per_million(res: Any) -> float | None:
        return res.cost.usd_per_million_output_tokens.expected if res.cost else None

    base = _baseline_row(out, baseline)
    baseline = base["label"]
    base_cost = per_million(base["result"])
    for o in out:
        cost = per_million(o["result"])
        o["price_performance"] = base_cost / cost if cost and base_cost else None
    return Comparison(baseline, tuple(out), stack_rule=stack_rule(stack), evidence_note=_evidence_note(out))
