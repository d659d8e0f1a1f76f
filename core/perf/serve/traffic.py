"""Traffic on one serving replica: a request rate (or a fixed concurrency) with input and output
lengths, continuous batching with a prompt queue, and TTFT and TPOT as mean, p50 and p90.

The model is a closed form, stated here so a reader can check it by hand:

- A replica spends ``prompt_s`` of its time on each prompt (the prompt's own prefill, run one at a
  time, first come first served, its chunks mixed into the decode iterations). At ``rate`` requests
  per second the share of time spent on prompts is ``rho = rate x prompt_s``; at ``rho >= 1``
  prompts pile up without end and the rate is refused.
- Decode runs in the rest of the time: a decode step over ``B`` running sequences takes
  ``step(B)`` and so a token comes every ``tpot = step(B) / (1 - rho)``. Little's law fixes the
  number running, ``B = rate x output_tokens x tpot``; the two are solved together by fixed-point
  iteration (a few rounds; step is increasing and rho < 1 make it converge). If the KV cache
  cannot hold ``B`` sequences the replica saturates: requests wait for memory, refused as a rate.
- A prompt, once started, takes ``S = prompt_s + chunks x (step(B) - step(0))`` (each chunk
  iteration also carries the running decodes' own work). Prompts shorter than half the chunk
  budget share iterations (``pack`` of them), so the prompt lane spends ``L = work + (prompt_s -
  work) / pack + chunks x (step(B) - step(0))`` per prompt, ``work`` being a prompt's replica time
  under load. Arrivals are Poisson (many independent users; a closed loop of N users with no think
  time is close to it once N is large), so the wait is that of an M/D/1 queue: mean
  ``rho_s L / (2 (1 - rho_s))`` with ``rho_s = rate x L`` (Pollaczek-Khinchine), and its tail taken
  as ``P(wait > t) = rho_s exp(-2 (1 - rho_s) t / L)`` (the exponential tail with that mean,
  Kingman's heavy-traffic form). TTFT = S + wait. Evenly spaced arrivals (``arrivals="constant"``, a
  load generator's constant-rate profile) find the lane free whenever ``rho_s < 1`` (a D/D/1 queue):
  TTFT = S.
- A stack that does not run prompts inside the decode steps (no chunked prefill: a separate compiled
  prompt graph) starts a prompt only once the running decode step ends, then runs it alone: ``S =
  prompt_s + min(B, 1) step(B) / 2`` (the mean residual of a step under way), and no decode work
  rides along; the decodes stall for the prompt instead (the ``1 - rho`` above).
- TPOT of one request averages ``output_tokens`` steps; the steps that carry a prompt's chunk are
  longer. The number of prompt chunks a request sees while it decodes is taken as Poisson with mean
  ``m = rate x chunks x output_tokens x tpot``, so its TPOT percentiles follow from those of the
  count (normal approximation, ``m + z sqrt(m)``); evenly spaced arrivals make the count m itself.

Every function works on floats, and on numpy arrays when given ``xp=numpy`` (the search), so the
scalar estimate and the vectorised search share one formula.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

Z_P90 = 1.2816  # standard normal 90th percentile
ITERATIONS = 30  # fixed-point rounds; converged to < 0.1% on every validation case


class _Scalar:
    """The few numpy functions the formulas use, for plain floats (keeps numpy out of start-up)."""

    @staticmethod
    def maximum(a: float, b: float) -> float:
        return max(a, b)

    @staticmethod
    def minimum(a: float, b: float) -> float:
        return min(a, b)

    @staticmethod
    def log(a: float) -> float:
        return math.log(a)

    @staticmethod
    def sqrt(a: float) -> float:
        return math.sqrt(a)

    @staticmethod
    def where(cond: bool, a: float, b: float) -> float:
        return a if cond else b


SCALAR = _Scalar()


@attrs.frozen
class Load:
    """One replica at one rate. Times in seconds; ``stable`` False means the rate cannot be served."""

    rate_per_s: float
    running_sequences: float
    prompt_share: float
    prompt_lane_share: float
    ttft_mean_s: float
    ttft_p50_s: float
    ttft_p90_s: float
    tpot_mean_s: float
    tpot_p50_s: float
    tpot_p90_s: float
    stable: bool
    limit: str  # "" when stable; else what runs out: "prompts" or "kv cache"


def wait_quantile(rho: Any, service_s: Any, p: float, xp: Any = SCALAR) -> Any:
    """The p-quantile of an M/D/1 wait, tail ``rho exp(-2 (1 - rho) t / S)``; 0 when rho <= 1 - p."""
    safe = xp.minimum(xp.maximum(rho, 1e-12), 1 - 1e-9)
    t = xp.log(xp.maximum(safe / (1 - p), 1.0)) * service_s / (2 * (1 - safe))
    return t


def mean_wait(rho: Any, service_s: Any, xp: Any = SCALAR) -> Any:
    """Pollaczek-Khinchine mean wait of an M/D/1 queue."""
    safe = xp.minimum(rho, 1 - 1e-9)
    return safe * service_s / (2 * (1 - safe))


def at_rate(
    rate: Any,
    output_tokens: Any,
    prompt_s: Any,
    step: Callable[[Any], Any],
    max_batch: Any,
    chunks: Any = 1,
    xp: Any = SCALAR,
    prompt_work_s: Any = None,
    pack: Any = 1,
    iterations: int = ITERATIONS,
    chunked: bool = True,
    arrivals: str = "poisson",
) -> Load:
    """TTFT and TPOT on one replica serving ``rate`` requests/s (see the module docstring).
    ``prompt_work_s`` is the replica time a prompt takes under load (default: ``prompt_s``);
    ``chunked`` False: prompts wait for the running decode step and run alone. ``arrivals``
    "constant": evenly spaced requests, which never queue behind one another. In order: the decode
    TPOT and the sequences running (``_decode_tpot``), what a started prompt takes and what its lane
    spends (``_prompt_extra``), the M/D/1 wait (``_ttft``), the TPOT percentiles
    (``_tpot_percentiles``), whether the rate can be served (``_stability``)."""
    work = prompt_s if prompt_work_s is None else prompt_work_s
    rho = rate * work
    tpot = _decode_tpot(rate, output_tokens, step, max_batch, xp.maximum(1 - rho, 1e-9), iterations, xp)
    wanted = rate * output_tokens * tpot
    running = xp.minimum(wanted, max_batch)
    carried, behind = _prompt_extra(step, running, chunks, chunked, xp)
    service = prompt_s + carried + behind  # what one prompt takes once it arrives at an idle lane
    # Short prompts share an iteration (``pack`` of them fill the chunk budget) and run as one
    # bigger matmul: the lane's time per prompt falls from prompt_s alone toward the work under load.
    lane = work + (prompt_s - work) / pack + carried
    rho_s = rate * lane
    spread = 0.0 if arrivals == "constant" else 1.0
    ttft_mean, ttft_p50, ttft_p90 = _ttft(service, lane, rho_s * spread, xp)
    tpot_p50, tpot_p90 = _tpot_percentiles(step(running), work, chunks, rate, output_tokens, tpot, xp, spread)
    stable, limit = _stability(rho, rho_s, wanted, max_batch, xp)
    return Load(rate_per_s=rate, running_sequences=running, prompt_share=rho, prompt_lane_share=rho_s,
                ttft_mean_s=ttft_mean, ttft_p50_s=ttft_p50, ttft_p90_s=ttft_p90, tpot_mean_s=tpot,
                tpot_p50_s=tpot_p50, tpot_p90_s=tpot_p90, stable=stable, limit=limit)  # fmt: skip


def _decode_tpot(rate: Any, output_tokens: Any, step: Callable[[Any], Any], max_batch: Any, free: Any,
                 iterations: int, xp: Any) -> Any:  # fmt: skip
    """The mean TPOT: a decode step over the sequences running, stretched by the share of time
    prompts leave ``free``; the number running follows from Little's law (rate x output tokens x
    TPOT, at most ``max_batch``), the two solved together by fixed-point iteration."""
    tpot = step(xp.minimum(1.0, max_batch)) / free
    for _ in range(iterations):
        running = xp.minimum(rate * output_tokens * tpot, max_batch)
        tpot = step(running) / free
    return tpot


def _prompt_extra(step: Callable[[Any], Any], running: Any, chunks: Any, chunked: bool, xp: Any) -> tuple[Any, Any]:
    """(the running decodes' work a prompt's chunks carry, the wait for a decode step under way): a
    chunked prompt carries the decodes in each of its chunks; an unchunked one waits for the mean
    residual of the running step, then runs alone."""
    extra = xp.maximum(step(running) - step(0.0 * running), 0.0)
    if chunked:
        return chunks * extra, 0.0 * extra  # the running decodes ride along in its chunks
    return 0.0 * extra, xp.minimum(running, 1.0) * step(running) / 2


def _ttft(service: Any, lane: Any, rho_s: Any, xp: Any) -> tuple[Any, Any, Any]:
    """TTFT mean, p50 and p90: a started prompt's ``service`` time plus its wait in the M/D/1 prompt
    lane (``lane`` seconds a prompt, busy ``rho_s`` of the time)."""
    mean = service + mean_wait(rho_s, lane, xp)
    return mean, service + wait_quantile(rho_s, lane, 0.5, xp), service + wait_quantile(rho_s, lane, 0.9, xp)


def _tpot_percentiles(base: Any, work: Any, chunks: Any, rate: Any, output_tokens: Any, tpot: Any,
                      xp: Any, spread: float = 1.0) -> tuple[Any, Any]:  # fmt: skip
    """A request's TPOT p50 and p90: its output_tokens steps of ``base`` seconds, of which k carry a
    prompt's chunk (Poisson, mean m; normal approximation m + z sqrt(m); ``spread`` 0: evenly spaced
    arrivals, k = m)."""
    chunk_s = work / xp.maximum(chunks, 1)
    m = rate * chunks * output_tokens * tpot
    per_token = chunk_s / xp.maximum(output_tokens, 1)
    return base + per_token * m, base + per_token * (m + spread * Z_P90 * xp.sqrt(m))


def _stability(rho: Any, rho_s: Any, wanted: Any, max_batch: Any, xp: Any) -> tuple[Any, str]:
    """(whether the rate can be served, what runs out): the prompts (a share of time at 1 or more)
    or the KV cache (more sequences wanted than it holds); arrays give no reason."""
    stable_prompts = (rho < 1) & (rho_s < 1) if xp is not SCALAR else (rho < 1 and rho_s < 1)
    stable_memory = wanted <= max_batch * (1 + 1e-9)
    if xp is SCALAR:
        stable = bool(stable_prompts and stable_memory)
        return stable, "" if stable else ("prompts" if not stable_prompts else "kv cache")
    return stable_prompts & stable_memory, ""


def static_batch(users: float, output_tokens: float, batch_prompt_s: float, step: Callable[[Any], Any]) -> Load:
    """A static batch of ``users`` sequences started together: one prompt pass for all of them
    (``batch_prompt_s``) gives every first token, then all decode together at batch ``users``."""
    tpot = step(users)
    cycle = batch_prompt_s + (output_tokens - 1) * tpot
    return Load(rate_per_s=users / cycle, running_sequences=users, prompt_share=batch_prompt_s / cycle,
                prompt_lane_share=batch_prompt_s / cycle, ttft_mean_s=batch_prompt_s, ttft_p50_s=batch_prompt_s,
                ttft_p90_s=batch_prompt_s, tpot_mean_s=tpot, tpot_p50_s=tpot, tpot_p90_s=tpot, stable=True,
                limit="")  # fmt: skip


def at_concurrency(
    users: float,
    output_tokens: float,
    prompt_s: float,
    step: Callable[[Any], Any],
    max_batch: float,
    chunks: float = 1,
    prompt_work_s: float | None = None,
    pack: float = 1,
    chunked: bool = True,
) -> Load:
    """A closed loop of ``users`` each sending the next request when the last one ends (a benchmark's
    "concurrency N"). The rate follows from Little's law, ``users = rate x (ttft + (out - 1) tpot)``;
    solved by bisection on the rate, since latency grows with it.
    """
    if users <= 1:
        # One user never queues behind another: the prompt alone, then decode at batch 1.
        tpot = step(1.0)
        rate = 1.0 / (prompt_s + (output_tokens - 1) * tpot)
        return Load(rate_per_s=rate, running_sequences=1.0, prompt_share=rate * prompt_s,
                    prompt_lane_share=rate * prompt_s, ttft_mean_s=prompt_s, ttft_p50_s=prompt_s,
                    ttft_p90_s=prompt_s, tpot_mean_s=tpot, tpot_p50_s=tpot, tpot_p90_s=tpot, stable=True,
                    limit="")  # fmt: skip
    low, high = 0.0, users / (prompt_s + (output_tokens - 1) * step(1.0))  # no rate beats no queueing
    for _ in range(60):
        mid = (low + high) / 2
        load = at_rate(mid, output_tokens, prompt_s, step, max_batch, chunks, prompt_work_s=prompt_work_s, pack=pack,
                       chunked=chunked)  # fmt: skip
        in_flight = mid * (load.ttft_mean_s + (output_tokens - 1) * load.tpot_mean_s)
        if load.stable and in_flight < users:
            low = mid
        else:
            high = mid
    load = at_rate(low, output_tokens, prompt_s, step, max_batch, chunks, prompt_work_s=prompt_work_s, pack=pack,
                   chunked=chunked)  # fmt: skip
    # Users beyond what the replica keeps in flight wait for a free slot (KV cache or prompt lane):
    # Little's law on that wait, added to their time to first token.
    waiting = max(0.0, users - low * (load.ttft_mean_s + (output_tokens - 1) * load.tpot_mean_s))
    extra = waiting / low if low > 0 else 0.0
    return attrs.evolve(
        load,
        ttft_mean_s=load.ttft_mean_s + extra,
        ttft_p50_s=load.ttft_p50_s + extra,
        ttft_p90_s=load.ttft_p90_s + extra,
    )
