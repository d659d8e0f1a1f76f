"""Serving estimates: for a model on a layout (``serve_layout``) under some traffic (``traffic``),
time to first token and per output token (mean, p50, p90), throughput, the limit that binds,
memory per chip and cost per million output tokens. A typed result; JSON via ``jsonable``.

Traffic is one of: a request rate (open loop, requests/s over all replicas), a concurrency (a
closed loop of N users, as benchmarks run; ``--batch`` is this), or neither (an offline run keeping
as many sequences in flight as the KV cache holds, as max-throughput tables are measured).

Ranges: each time is computed again with every achieved rate (bandwidth, compute, links) scaled to the
ends of the split-conformal range of published serving results (``ranges``), so a queue near
saturation widens its own range.
"""

from __future__ import annotations

from typing import Any

import attrs

from ...cost.pricing import Quote
from ...data.records import Workload
from ...errors import HwprofError
from .. import efficiency as eff
from .. import ranges
from ..cluster import Cluster, rests_on
from . import layout as sl
from . import options as opt
from . import shape as serve_shape
from . import traffic as tr


@attrs.frozen
class Span:
    """A range; an end is None when the model has no bound there (at the slow end of the range the
    replicas could not keep up with the rate at all)."""

    low: float | None
    expected: float
    high: float | None


@attrs.frozen
class Traffic:
    input_tokens: int
    output_tokens: int
    concurrency: int | None = None  # users in a closed loop, over all replicas
    rate_per_s: float | None = None  # requests per second, over all replicas
    max_batch: int | None = None  # the engine's limit on sequences in flight per replica (else the KV cache's)
    options: opt.ServeOptions = opt.NONE  # speculative decoding, prefix caching (serve.options)
    static: bool = False  # a static batch: the concurrency's prompts start together, encoded in one pass
    arrivals: str = "poisson"  # a rate's requests: "poisson" (independent users) or "constant" (evenly spaced)

    @property
    def kind(self) -> str:
        limit = f", at most {self.max_batch} sequences in flight per replica" if self.max_batch else ""
        if self.rate_per_s is not None:
            spacing = "evenly spaced" if self.arrivals == "constant" else "Poisson"
            return f"{self.rate_per_s:g} requests/s ({spacing} arrivals){limit}"
        limit = f", at most {self.max_batch} sequences in flight per replica" if self.max_batch else ""
        if self.concurrency is not None and self.static:
            return f"a static batch of {self.concurrency} (prompts encoded together, then decoded together)"
        if self.concurrency is not None:
            return f"concurrency {self.concurrency} (closed loop: each user sends again when answered){limit}"
        return "offline: as many sequences in flight as the KV cache holds" + limit


@attrs.frozen
class ServeMemory:
    weights_bytes_per_chip: float
    kv_bytes_per_token: float  # whole model, per token of a sequence at its mean context (windows kept only)
    kv_bytes_per_token_per_chip: float
    kv_cache_bytes_per_chip: float  # at the running batch
    usable_bytes_per_chip: float
    max_batch_per_replica: int


@attrs.frozen
class ServeBreakdown:
    """One replica at the operating point; step parts are one decode step at the running batch."""

    prompt_alone_s: float
    prompt_compute_s: float
    prompt_comm_s: float
    prompt_fixed_s: float  # the serving stack's fixed costs in the prompt alone (steps and request)
    decode_memory_s: float
    decode_compute_s: float
    decode_comm_s: float
    decode_fixed_s: float  # the serving stack's fixed cost per step
    decode_step_s: float
    prompt_share: float  # of the replica's time spent on prompts
    running_sequences_per_replica: float
    requests_per_s_per_replica: float
    tp_link: str
    queue_wait_s: float


@attrs.frozen
class ServeCost:
    usd_per_hour: float
    systems_billed: int
    usd_per_million_output_tokens: Span
    price: dict[str, Any]
    warnings: tuple[str, ...]


@attrs.frozen
class ServeEstimate:
    kind: str
    model: str
    model_source: str
    target: str
    chip: str
    chips: int
    layout: str
    replicas: int
    weights: str
    kv_cache: str
    input_tokens: int
    output_tokens: int
    traffic: str
    precision_basis: str
    ttft_s: Span  # mean
    ttft_p50_s: float
    ttft_p90_s: float
    tpot_s: Span  # mean
    tpot_p50_s: float
    tpot_p90_s: float
    tokens_per_s: Span  # output tokens/s over all replicas
    tokens_per_s_per_chip: float
    tokens_per_s_per_user: float
    requests_per_s: float
    binding: str
    breakdown: ServeBreakdown
    memory: ServeMemory
    cost: ServeCost | None
    assumptions: tuple[str, ...]
    rests_on: tuple[str, ...]
    range_basis: str = ""
    range: ranges.Band | None = None  # where the range comes from (decode: TPOT and throughput)
    layout_fields: sl.ServeLayout | None = None  # ``layout`` as a typed value
    stack: str = ""  # the serving stack assumed (its fixed costs above), "" when none is named
    stack_basis: str = ""  # what the stack's efficiency rests on
    first_token_range: ranges.Band | None = None  # where the TTFT's range comes from (``ranges.kind_of``)


def _solve(shape: Workload, r: sl.Replica, lay: sl.ServeLayout, t: Traffic, handoff_s: float = 0.0
           ) -> tuple[tr.Load, dict[str, float]]:  # fmt: skip
    """The operating point of one replica, and its parts."""
    i, o = t.input_tokens, t.output_tokens
    # A stack with compiled prompt lengths pads the prompt up to the next one, and reads a decoding
    # sequence's cache up to the next one past its mean length.
    # A cached prefix is not prefilled (serve.options).
    padded, prompt_flops, prompt_attention = t.options.prompt(shape, i, r.prompt_buckets)
    new = t.options.new_tokens(i)
    context = sl.padded(i + o / 2, r.prompt_buckets)  # mean tokens in the cache while a sequence decodes
    flops_per_token = 2 * shape.active
    attention_flops = serve_shape.decode_attention_flops(shape, context)
    chunks = -(-new // lay.chunk_tokens) if r.chunked_prefill else 1
    pack = max(1, lay.chunk_tokens // new) if r.chunked_prefill else 1  # prompts that share one iteration
    compute_s, comm_s = sl.prompt_time(r, padded, prompt_flops, chunks, attention_flops=prompt_attention)
    prompt_s = compute_s + comm_s
    work_s = sum(sl.prompt_time(r, padded, prompt_flops, chunks, batched=True, attention_flops=prompt_attention,
                                pack=pack))  # fmt: skip
    max_batch = float(r.max_batch(i + o))
    if t.max_batch is not None:
        max_batch = min(max_batch, float(t.max_batch))
    if max_batch < 1:
        raise HwprofError(f"layout {lay}: the weights leave no room for the KV cache of one sequence of {i + o:,} "
                          "tokens; use more chips per replica (tp x pp) or a smaller weight precision")  # fmt: skip

    costs = t.options.step(sl.step_of(r, context, flops_per_token, attention_flops), shape)  # per output token

    def step(batch: Any) -> Any:
        return sl.decode_step(costs, batch)

    if lay.prefill:
        if t.rate_per_s is None:
            raise HwprofError("disaggregated serving (prefill replicas) is modelled at a request rate, not a "
                              "concurrency")  # fmt: skip
        load = _disaggregated(t, lay, prompt_s, work_s, step, max_batch, chunks, pack, handoff_s)
    elif t.rate_per_s is not None:
        load = tr.at_rate(t.rate_per_s / lay.dp, o, prompt_s, step, max_batch, chunks, prompt_work_s=work_s, pack=pack,
                          chunked=r.chunked_prefill, arrivals=t.arrivals)  # fmt: skip
        if not load.stable:
            what = ("prompts alone would take more than all of its time" if load.limit == "prompts"
                    else f"its KV cache holds {int(max_batch)} sequences, fewer than the rate keeps in flight")  # fmt: skip
            raise HwprofError(f"{t.rate_per_s:g} requests/s is more than {lay.dp} replica{'' if lay.dp == 1 else 's'} "
                              f"of {lay} can serve: "
                              f"{what}; add replicas or chips")  # fmt: skip
    elif t.static and t.concurrency is not None:
        # Every prompt of the batch in one prompt pass (the weights read once, the FLOPs of all of them),
        # so each first token waits for the whole batch's; then the batch decodes together.
        users = t.concurrency / lay.dp
        whole = sum(sl.prompt_time(r, users * padded, users * prompt_flops, chunks,
                                   attention_flops=users * prompt_attention))  # fmt: skip
        load = tr.static_batch(users, o, whole, step)
    else:
        users = t.concurrency / lay.dp if t.concurrency is not None else max_batch
        load = tr.at_concurrency(users, o, prompt_s, step, max_batch, chunks, prompt_work_s=work_s, pack=pack,
                                 chunked=r.chunked_prefill)  # fmt: skip
    memory, compute, comm = sl.decode_parts(costs, load.running_sequences)
    prompt_fixed = chunks * r.floor_s + r.request_s
    parts = {"prompt_s": prompt_s, "prompt_compute_s": compute_s, "prompt_comm_s": comm_s - prompt_fixed,
             "prompt_fixed_s": prompt_fixed, "memory": memory, "compute": compute, "comm": comm,
             "fixed": costs.floor_s, "max_batch": max_batch}  # fmt: skip
    return load, parts


def _bound(shape: Workload, r: sl.Replica, lay: sl.ServeLayout, t: Traffic, handoff_s: float) -> tr.Load | None:
    """The operating point at one end of the range, or None where the rate cannot be served there."""
    try:
        return _solve(shape, r, lay, t, handoff_s)[0]
    except HwprofError:
        return None


def _disaggregated(t: Traffic, lay: sl.ServeLayout, prompt_s: float, work_s: float, step: Any, max_batch: float,
                   chunks: int, pack: int, handoff_s: float) -> tr.Load:  # fmt: skip
    """``prefill`` replicas run prompts only (M/D/1 lane, no decodes), then hand the KV cache over;
    the other replicas decode without ever stopping for a prompt."""
    rate = t.rate_per_s or 0.0
    decode = lay.dp - lay.prefill
    pre = tr.at_rate(rate / lay.prefill, 1, prompt_s, lambda b: 0.0 * b, 1.0, chunks, prompt_work_s=work_s, pack=pack,
                     arrivals=t.arrivals)  # fmt: skip
    dec = tr.at_rate(rate / decode, t.output_tokens, 0.0, step, max_batch, chunks, prompt_work_s=0.0,
                     arrivals=t.arrivals)  # fmt: skip
    if not (pre.stable and dec.stable):
        side = "prefill" if not pre.stable else "decode"
        raise HwprofError(f"{rate:g} requests/s is more than the {side} replicas of {lay} can serve; add replicas")
    return attrs.evolve(
        dec,
        rate_per_s=rate / lay.dp,
        ttft_mean_s=pre.ttft_mean_s + handoff_s,
        ttft_p50_s=pre.ttft_p50_s + handoff_s,
        ttft_p90_s=pre.ttft_p90_s + handoff_s,
    )


def _binding(load: tr.Load, parts: dict[str, float]) -> str:
    """What takes the largest share of a replica's time at the operating point."""
    step = parts["memory"] + parts["compute"] + parts["comm"] + parts["fixed"]
    decode = 1 - min(load.prompt_share, 1.0)
    shares = {
        "prompt prefill (compute)": load.prompt_share,
        "memory bandwidth": decode * parts["memory"] / step,
        "compute": decode * parts["compute"] / step,
        "communication": decode * parts["comm"] / step,
        "fixed costs per step (serving stack)": decode * parts["fixed"] / step,
    }
    return max(shares, key=lambda k: shares[k])


def estimate_serve(
    shape: Workload,
    cluster: Cluster,
    layout: sl.ServeLayout,
    traffic: Traffic,
    quote: Quote | None = None,
    constants: sl.Constants = sl.SHIPPED,
    band: ranges.Band | None = None,
    published_chips: frozenset[str] = frozenset(),
    stack: sl.StackServing | None = None,
    first_band: ranges.Band | None = None,
) -> ServeEstimate:
    """The operating point of one replica under ``traffic`` (``_solve``), the same again with every
    achieved rate at each end of the range (``_ends``), and the figures they give. ``published_chips``:
    the chips with a serving calibration run of their own (``ranges.own_chips``); the range is wider
    on the others. ``band`` overrides the decode range, ``first_band`` the first token's (by default the
    first-token regime's of the same evidence class: ``ranges.kind_of``). ``stack``: the serving
    software's fixed costs and prompt scheduling (default: the chip's default serving stack,
    ``serve.layout.stack_of``)."""
    _check(shape, cluster, layout, traffic)
    stack = stack if stack is not None else sl.stack_of(cluster.chip, None, constants)
    replica = _fitting_replica(shape, cluster, layout, constants, stack)
    handoff = float(sl.handoff_s(traffic.input_tokens, replica, sl.tiers(cluster, constants, stack)))
    load, parts = _solve(shape, replica, layout, traffic, handoff)
    evidence = band.evidence if band else stack_evidence(ranges.evidence("serve", cluster.chip, published_chips), stack)
    band = band or ranges.band("serve", evidence)
    first_band = first_band or ranges.band("first", evidence)
    fast, slow = (load, load) if band.fast == band.slow == 1 else _ends(shape, replica, layout, traffic, handoff, band)
    same = (first_band.fast, first_band.slow) == (band.fast, band.slow)
    first_fast, first_slow = (fast, slow) if same else _ends(shape, replica, layout, traffic, handoff, first_band)
    rate = load.rate_per_s * layout.dp
    tokens = rate * traffic.output_tokens
    tokens_span = _tokens_span(traffic, layout, tokens, fast, slow, band)
    thin = sl.estimated_figures(cluster, layout)
    precision = sl.compute_precision(cluster.chip, layout.weights)
    peak = cluster.chip.peak_dense_tflops[precision]
    return ServeEstimate(
        kind="serve", model=shape.id, model_source=shape.citation, target=cluster.label, chip=cluster.chip.id,
        chips=cluster.chips, layout=str(layout), layout_fields=layout, replicas=layout.dp, weights=layout.weights,
        kv_cache=layout.kv_cache, input_tokens=traffic.input_tokens, output_tokens=traffic.output_tokens,
        traffic=traffic.kind,
        precision_basis=f"dense {precision} peak, {peak.value:g} TFLOPS per chip ({peak.status})",
        ttft_s=_widened(first_fast.ttft_mean_s if first_fast else None, load.ttft_mean_s,
                        first_slow.ttft_mean_s if first_slow else None, first_band),
        ttft_p50_s=load.ttft_p50_s, ttft_p90_s=load.ttft_p90_s,
        tpot_s=_widened(fast.tpot_mean_s if fast else None, load.tpot_mean_s, slow.tpot_mean_s if slow else None, band),
        tpot_p50_s=load.tpot_p50_s, tpot_p90_s=load.tpot_p90_s,
        tokens_per_s=tokens_span, tokens_per_s_per_chip=tokens / cluster.chips,
        tokens_per_s_per_user=1 / load.tpot_mean_s, requests_per_s=rate, binding=_binding(load, parts),
        breakdown=_breakdown(cluster, layout, load, parts), memory=_memory(shape, layout, traffic, replica, load, parts),
        cost=_cost(quote, cluster, tokens_span),
        assumptions=_assumptions(layout, stack) + traffic.options.notes(shape), rests_on=tuple(rests_on(cluster, peak)),
        range_basis=f"every achieved rate scaled to the ends of the range: {band.text}; first tokens: "
                    f"{first_band.text}" + (f"; it rests on estimated figures: {', '.join(thin)}" if thin else ""),
        range=band, first_token_range=first_band,
    )  # fmt: skip


def _check(shape: Workload, cluster: Cluster, layout: sl.ServeLayout, traffic: Traffic) -> None:
    """Refuses a layout the cluster cannot hold (``serve.layout.check``) and traffic that is no load."""
    sl.check(shape, cluster, layout, traffic.input_tokens, traffic.output_tokens)
    if traffic.concurrency is not None and traffic.concurrency < 1:
        raise HwprofError(f"concurrency must be at least 1, got {traffic.concurrency}")
    if traffic.max_batch is not None and traffic.max_batch < 1:
        raise HwprofError(f"the batch limit must be at least 1 sequence, got {traffic.max_batch}")
    if traffic.rate_per_s is not None and not traffic.rate_per_s > 0:
        raise HwprofError(f"the request rate must be positive, got {traffic.rate_per_s:g}")
    traffic.options.check()


def _fitting_replica(shape: Workload, cluster: Cluster, layout: sl.ServeLayout, constants: sl.Constants,
                     stack: sl.StackServing) -> sl.Replica:  # fmt: skip
    """One replica's rates and sizes (``serve.layout.replica``), refused when its share of the
    weights alone overflows a chip's usable memory, saying how many chips a replica needs."""
    replica = sl.replica(shape, cluster, layout, constants, stack)
    weights_total = replica.weights_bytes_per_chip
    if weights_total > replica.usable_bytes_per_chip:
        need = -(-shape.params * _bytes(layout.weights) // replica.usable_bytes_per_chip)
        raise HwprofError(f"{shape.id} in {layout.weights} needs {weights_total / 1e9:,.1f} GB of weights per chip "
                          f"with {layout.replica_chips} chip{'' if layout.replica_chips == 1 else 's'} per replica; a {cluster.chip.id} holds "
                          f"{replica.usable_bytes_per_chip / 1e9:,.1f} GB usable: it needs at least {int(need)} "
                          "chips per replica (tp x pp)")  # fmt: skip
    return replica


def _ends(shape: Workload, replica: sl.Replica, layout: sl.ServeLayout, traffic: Traffic, handoff_s: float,
          band: ranges.Band) -> tuple[tr.Load | None, tr.Load | None]:  # fmt: skip
    """The operating points at the fast and slow ends of ``band``: every achieved rate (bandwidth,
    compute, links, the KV hand-off) scaled by its factor, so a queue near saturation widens its own
    range (None: the rate cannot be served there)."""
    fast = _bound(shape, sl.scaled(replica, band.fast), layout, traffic, handoff_s / band.fast)
    slow = _bound(shape, sl.scaled(replica, band.slow), layout, traffic, handoff_s / band.slow)
    return fast, slow


def _tokens_span(traffic: Traffic, layout: sl.ServeLayout, tokens: float, fast: tr.Load | None,
                 slow: tr.Load | None, band: ranges.Band) -> Span:  # fmt: skip
    """Output tokens per second over all replicas: ``tokens`` expected, the ends' own rates at least
    as wide as ``band``; an open loop serves its rate whatever the speed."""
    low, high = ranges.widened(slow.rate_per_s * layout.dp * traffic.output_tokens if slow else None, tokens,
                               fast.rate_per_s * layout.dp * traffic.output_tokens if fast else None, band, False)  # fmt: skip
    if traffic.rate_per_s is not None:
        return Span(tokens, tokens, tokens)
    return Span(low, tokens, high)


def _breakdown(cluster: Cluster, layout: sl.ServeLayout, load: tr.Load, parts: dict[str, float]) -> ServeBreakdown:
    """Where a prompt's and a decode step's time goes (compute, memory, links, fixed costs), and the
    replica's operating point: its running sequences, requests per second and queue wait."""
    return ServeBreakdown(
        prompt_alone_s=parts["prompt_s"], prompt_compute_s=parts["prompt_compute_s"],
        prompt_comm_s=parts["prompt_comm_s"], prompt_fixed_s=parts["prompt_fixed_s"], decode_memory_s=parts["memory"],
        decode_compute_s=parts["compute"], decode_comm_s=parts["comm"], decode_fixed_s=parts["fixed"],
        decode_step_s=parts["memory"] + parts["compute"] + parts["comm"] + parts["fixed"],
        prompt_share=load.prompt_share, running_sequences_per_replica=load.running_sequences,
        requests_per_s_per_replica=load.rate_per_s, tp_link=sl.link_name(cluster, layout.tp),
        queue_wait_s=load.ttft_mean_s - parts["prompt_s"],
    )  # fmt: skip


def _memory(shape: Workload, layout: sl.ServeLayout, traffic: Traffic, replica: sl.Replica, load: tr.Load,
            parts: dict[str, float]) -> ServeMemory:  # fmt: skip
    """Memory per chip: the weights, and the KV cache of the running sequences at their mean context
    (the prompt and half the output)."""
    context = traffic.input_tokens + traffic.output_tokens / 2
    return ServeMemory(
        weights_bytes_per_chip=replica.weights_bytes_per_chip,
        kv_bytes_per_token=(shape.kv_elements_per_token(context) or 0.0) * _bytes(layout.kv_cache),
        kv_bytes_per_token_per_chip=float(replica.kv_per_token(context)),
        kv_cache_bytes_per_chip=load.running_sequences * context * replica.kv_per_token(context),
        usable_bytes_per_chip=replica.usable_bytes_per_chip, max_batch_per_replica=int(parts["max_batch"]),
    )  # fmt: skip


def stack_evidence(evidence: str, stack: sl.StackServing) -> str:
    """An estimate's range class (range hook): ``borrowed`` where its stack's floors or prefill efficiency
    are borrowed from another chip or stack, however well its chip is calibrated otherwise."""
    borrowed = stack.borrowed or bool(stack.prefill_from)
    return "borrowed" if borrowed and evidence in ("own", "corrected") else evidence


def _widened(low: float | None, expected: float, high: float | None, band: ranges.Band) -> Span:
    """A time's range at the ends of ``band``, at least as wide as ``band`` itself (range hook)."""
    low, high = ranges.widened(low, expected, high, band, True)
    return Span(low, expected, high)


def _bytes(precision: str) -> float:
    from ...data.records import BYTES_PER_ELEMENT

    return BYTES_PER_ELEMENT[precision]


def _cost(quote: Quote | None, cluster: Cluster, tokens: Span) -> ServeCost | None:
    """Whole systems are rented: part of one is billed as the whole (and said so by the CLI)."""
    if quote is None or cluster.system is None:
        return None
    systems = -(-cluster.chips // cluster.system.chips)
    per_hour = quote.usd_per_hour * systems

    def per_million(tokens_per_s: float | None) -> float | None:
        return per_hour / (tokens_per_s * 3600) * 1e6 if tokens_per_s else None

    span = Span(per_million(tokens.high), per_hour / (tokens.expected * 3600) * 1e6, per_million(tokens.low))
    return ServeCost(usd_per_hour=per_hour, systems_billed=systems, usd_per_million_output_tokens=span,
                     price=quote.as_json(), warnings=tuple(quote.warnings()))  # fmt: skip


def _assumptions(lay: sl.ServeLayout, stack: sl.StackServing) -> tuple[str, ...]:
    return (
        f"layout {lay}: tensor parallel {lay.tp} x pipeline {lay.pp} chips per replica, {lay.dp} "
        f"replica{'' if lay.dp == 1 else 's'}, "
        "requests spread evenly over the replicas",
        f"continuous batching; prompts prefilled first come first served in chunks of up to {lay.chunk_tokens:,} "
        "tokens mixed into the decode steps"
        if stack.chunked_prefill
        else "continuous batching; each prompt prefilled whole, first come first served, between decode steps",
        f"memory bandwidth {eff.MEMORY_BANDWIDTH_FRACTION.value:.0%}, prompt compute "
        f"{eff.PREFILL_COMPUTE_FRACTION.value:.0%}, decode compute {eff.DECODE_COMPUTE_FRACTION.value:.0%} of peak, "
        f"times w / (w + {eff.MATMUL_HALF_WIDTH.value:g}) for w = hidden / tp matmul columns per chip (per rank, "
        "against the chip's own half width, where its profile gives one); "
        f"collective latency at least {stack.collective_latency_us or eff.COLLECTIVE_LATENCY_US.value:g} us per step",
        "queueing: M/D/1 prompt queue (Poisson arrivals), TPOT stretched by the prompts' share of time "
        "(hwprof.perf.serve.traffic)",
        *_stack_assumptions(stack),
    )


def _stack_assumptions(stack: sl.StackServing) -> tuple[str, ...]:
    if not stack.name:
        return ("serving stack: none named; no fixed costs per step or request",)
    text = (f"serving stack {stack.name}: fixed {stack.step_floor_us:g} us per layer + {stack.step_host_us:g} us in "
            f"every forward step, {stack.request_floor_us:g} us per layer + {stack.request_host_us:g} us once per "
            "request; prompts "
            + ("run inside the decode steps (chunked prefill)" if stack.chunked_prefill
               else "wait for the running decode step and run alone (no chunked prefill)"))  # fmt: skip
    if stack.prompt_buckets:
        text += f"; prompts padded up to compiled lengths {', '.join(f'{b:,}' for b in stack.prompt_buckets)}"
    if stack.batch_buckets:
        text += f"; batches padded up to {', '.join(str(b) for b in stack.batch_buckets)}"
    if stack.borrowed:
        text += (
            f"; no calibration run measured {stack.name}'s fixed costs on this chip: they are borrowed from "
            f"{stack.floors_from} (the nearest with one, hwprof.perf.serve.layout.floor_source), so the range "
            "is widened as borrowed"
        )
    elif stack.floors_from:
        text += f"; its fixed costs those of {stack.floors_from} (the same silicon and software)"
    return (text + _prefill_text(stack),)


def _prefill_text(stack: sl.StackServing) -> str:
    """Where the stack's prompt compute comes from (``layout.prefill_source``); nothing where it is the
    pooled fraction the reference stacks were fitted on and its floors are its own."""
    share = f"prompts at x{stack.prefill_efficiency:.4g} of the pooled prompt compute fraction"
    if stack.prefill_from:
        return (f"; {share}, the prefill efficiency of {stack.prefill_from}: none measured for {stack.name} on this chip, "
                "borrowed as the per-layer floors are (the same runtime's graphs; "
                "hwprof.perf.serve.layout.prefill_source)")  # fmt: skip
    if stack.prefill_efficiency != 1.0:
        return f"; {share}, its own prefill efficiency (fitted on its published first tokens)"
    if stack.borrowed:
        return (
            "; no prefill efficiency measured on this stack or one it borrows from: prompts at the pooled fraction (1)"
        )
    return ""
