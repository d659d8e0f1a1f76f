"""A serving stack's fixed costs and prompt scheduling (issue 19), each checked by hand arithmetic
or against the published figure it was fitted on."""

from __future__ import annotations

import attrs
import pytest

from hwprof.data import registry
from hwprof.perf import cluster
from hwprof.perf.serve import cases as serve_cases
from hwprof.perf.serve import layout as sl
from hwprof.perf.serve import serving, traffic

POW2 = tuple(2**i for i in range(7, 18))  # the Neuron defaults: 128 ... 131,072


def on(reg: registry.Registry, system: str, chips: int) -> cluster.Cluster:
    s = reg.system(system)
    return cluster.cluster_for(reg.chip(s.chip), chips, s, reg.interconnects)


def test_padding_goes_up_to_the_next_bucket_and_no_further() -> None:
    assert sl.padded(128, POW2) == 128  # a bucket holds its own length
    assert sl.padded(129, POW2) == 256
    assert sl.padded(1500, POW2) == 2048
    assert sl.padded(10_000, (2048, 4096, 8192, 12288)) == 12288  # the 70B tutorial's buckets
    assert sl.padded(20_000, (2048, 4096, 8192, 12288)) == 20_000  # past the largest: itself
    assert sl.padded(77, ()) == 77  # no buckets: no padding


def test_the_chip_profile_names_the_stack_and_a_refit_replaces_its_floors(reg: registry.Registry) -> None:
    trn1 = reg.chip("trainium1")
    tnx = sl.stack_of(trn1, "transformers-neuronx")
    entry = trn1.serving_stacks["transformers-neuronx"]
    assert (tnx.request_floor_us, tnx.collective_latency_us) == (entry.request_floor_us.value,
                                                                  entry.collective_latency_us.value)  # fmt: skip
    assert tnx.step_floor_us == 0.0 and tnx.chunked_prefill is False  # no floor of its own; prompts run alone
    assert sl.stack_of(trn1) == tnx  # the default its profile names
    assert sl.stack_of(trn1, "no-such-stack") == sl.StackServing(name="no-such-stack")  # adds nothing
    refit = sl.Constants(floors=(("trainium1.transformers-neuronx.request_floor_us", 7.0),))
    assert sl.stack_of(trn1, "transformers-neuronx", refit).request_floor_us == 7.0
    nxdi = sl.stack_of(reg.chip("trainium2"), "neuronx-distributed")
    assert nxdi.prompt_buckets == POW2 and not nxdi.chunked_prefill


def test_floors_add_per_layer_to_every_step_and_once_per_request(reg: registry.Registry) -> None:
    """Llama 3.1 70B (80 layers) on 2 x H100 at TP2: a stack of 50 us per layer per step and 100 us
    per layer per request adds 80 x 50 us = 4 ms to every decode step and, to a 5,000-token prompt
    alone in one chunk, 4 ms + 80 x 100 us = 12 ms."""
    seventy = reg.workload("llama3.1-70b")
    tgt = on(reg, "p5.48xlarge", 2)
    lay = sl.ServeLayout(tp=2, weights="fp8", kv_cache="fp8")
    stack = sl.StackServing(name="x", step_floor_us=50.0, request_floor_us=100.0)
    bare, floored = sl.replica(seventy, tgt, lay), sl.replica(seventy, tgt, lay, stack=stack)
    assert floored.floor_s == pytest.approx(80 * 50e-6) and floored.request_s == pytest.approx(80 * 100e-6)
    flops_per_token = 2 * seventy.active
    for batch in (1.0, 16.0):
        step = sl.decode_step(sl.step_of(floored, 5000, flops_per_token), batch)
        assert step == pytest.approx(sl.decode_step(sl.step_of(bare, 5000, flops_per_token), batch) + 0.004)
    flops = 5000 * seventy.forward_flops_per_token(2500)
    assert sum(sl.prompt_time(floored, 5000, flops, 1)) == pytest.approx(sum(sl.prompt_time(bare, 5000, flops, 1))
                                                                         + 0.004 + 0.008)  # fmt: skip
    # two chunks are two forward steps: 2 x 4 ms, the request's 8 ms once
    assert sum(sl.prompt_time(floored, 5000, flops, 2)) == pytest.approx(sum(sl.prompt_time(bare, 5000, flops, 2))
                                                                         + 0.008 + 0.008)  # fmt: skip
    # under load a chunked stack's prompt shares the decode step's floor; an unchunked one pays its own
    assert sum(sl.prompt_time(floored, 5000, flops, 1, batched=True)) == pytest.approx(
        sum(sl.prompt_time(bare, 5000, flops, 1, batched=True)))  # fmt: skip
    alone = attrs.evolve(floored, chunked_prefill=False)
    assert sum(sl.prompt_time(alone, 5000, flops, 1, batched=True)) == pytest.approx(
        sum(sl.prompt_time(bare, 5000, flops, 1, batched=True)) + 0.004)  # fmt: skip


def test_host_floors_do_not_scale_with_depth(reg: registry.Registry) -> None:
    """A host cost of 14 ms per step and 100 ms per request is the same on 32 layers (8B) as on 80
    (70B); per-layer floors of 10 us are 0.32 ms and 0.8 ms."""
    stack = sl.StackServing(name="x", step_floor_us=10.0, step_host_us=14_000.0, request_host_us=100_000.0)
    tgt = on(reg, "p5.48xlarge", 2)
    for name, layers in (("llama3.1-8b", 32), ("llama3.1-70b", 80)):
        r = sl.replica(reg.workload(name), tgt, sl.ServeLayout(tp=2), stack=stack)
        assert r.floor_s == pytest.approx(0.014 + layers * 10e-6) and r.request_s == pytest.approx(0.1)


def test_a_stack_latency_replaces_the_pooled_one_per_collective_step(reg: registry.Registry) -> None:
    """160 all-reduces per decode step; the pooled floor is 12 us per step; a stack measured at 30 us
    per step raises every tier's latency to 30 us, so the fixed collective time grows 2.5-fold where
    the link's own latency is below both."""
    seventy = reg.workload("llama3.1-70b")
    tgt = on(reg, "p5.48xlarge", 2)
    lay = sl.ServeLayout(tp=2, weights="fp8")
    own = sl.StackServing(name="x", collective_latency_us=30.0)
    assert all(t.link.latency_us >= 30.0 for t in sl.tiers(tgt, sl.SHIPPED, own))
    pooled, stacked = sl.replica(seventy, tgt, lay), sl.replica(seventy, tgt, lay, stack=own)
    assert stacked.comm_fixed_s == pytest.approx(pooled.comm_fixed_s * 30.0 / 12.0)


def test_a_prompt_that_cannot_ride_a_step_waits_for_half_of_the_running_one() -> None:
    """step(B) = 10 ms + 1 ms x B; a prompt of 50 ms; 1 request/s of 100 tokens on one replica.
    Chunked: the prompt carries the running decodes' work, S = 50 ms + (step(B) - step(0)).
    Unchunked: no decode work rides along; it waits for the step under way: S = 50 ms + step(B) / 2."""

    def step(b: float) -> float:
        return 0.010 + 0.001 * b

    chunked = traffic.at_rate(1.0, 100, 0.05, step, 64.0)
    alone = traffic.at_rate(1.0, 100, 0.05, step, 64.0, chunked=False)
    b = chunked.running_sequences
    assert alone.running_sequences == pytest.approx(b)  # the decodes stall alike (1 - rho)
    lane = 0.05 + 0.001 * b
    rho = 1.0 * lane
    assert chunked.ttft_mean_s == pytest.approx(0.05 + 0.001 * b + rho * lane / (2 * (1 - rho)))
    rho = 0.05
    assert alone.ttft_mean_s == pytest.approx(0.05 + step(b) / 2 + rho * 0.05 / (2 * (1 - rho)))
    one = traffic.at_concurrency(1, 100, 0.05, step, 64.0, chunked=False)
    assert one.ttft_mean_s == pytest.approx(0.05)  # one user: nothing is running when it sends


def test_bucket_padding_reaches_the_prompt_flops(reg: registry.Registry) -> None:
    """Llama 3.1 8B on one trn2 chip alone: a 1,500-token prompt on a stack compiled at 2,048 costs the
    FLOPs of 2,048 tokens, the same as a 2,048-token prompt on it, and more than 1,500 unpadded."""
    eight = reg.workload("llama3.1-8b")
    tgt = on(reg, "trn2.48xlarge", 1)
    lay = sl.ServeLayout(tp=1)
    bare = sl.StackServing(name="x", chunked_prefill=False)
    bucketed = attrs.evolve(bare, prompt_buckets=POW2)

    def alone(stack: sl.StackServing, tokens: int) -> float:
        load = serving.Traffic(tokens, 10, concurrency=1)
        return serving.estimate_serve(eight, tgt, lay, load, stack=stack).breakdown.prompt_compute_s

    assert alone(bucketed, 1500) == pytest.approx(alone(bare, 2048))
    assert alone(bucketed, 1500) > alone(bare, 1500) * 1.3  # 2,048 / 1,500 = 1.37 of the FLOPs and more


def test_batch_buckets_pad_the_decode_step() -> None:
    s = sl.Step(pp=1, weights_s=0.0, expert_share=0.0, expert_miss=0.0, kv_s=0.001, compute_s=0.0, comm_fixed_s=0.0,
                comm_s=0.0, batch_buckets=(1, 4, 16))  # fmt: skip
    assert sl.decode_step(s, 1.0) == pytest.approx(0.001)
    assert sl.decode_step(s, 2.0) == pytest.approx(0.004)  # two sequences run as four
    assert sl.decode_step(s, 5.0) == pytest.approx(0.016)


@pytest.mark.parametrize(
    "case_id",
    ["cal-serve-tnx-trn1-llama2-70b-128-ttft", "cal-serve-tnx-trn1-llama2-7b-128-tpot",
     "cal-serve-trtllm05-h100-llama2-7b-ttft-128", "cal-serve-optimum-trn2-8b-sync-tpot"],
)  # fmt: skip
def test_the_batch_one_rows_the_floors_were_fitted_on_come_back_within_12_percent(
    reg: registry.Registry, case_id: str
) -> None:
    """Each floor is one number per chip x stack fitted on two rows at most: the rows it rests on
    come back close (the Trainium1 latency is one value for a 7B and a 70B row)."""
    case = reg.validation_cases[case_id]
    assert serve_cases.predict(case, reg)["expected"] == pytest.approx(case.published, rel=0.12)


def _with_evidence(k: sl.Constants, reg: registry.Registry) -> sl.Constants:
    return attrs.evolve(k, evidence=serve_cases.evidence_of(reg))


def test_a_held_out_neuron_stack_borrows_the_runtime_not_the_front_ends_host_floors(reg: registry.Registry) -> None:
    """Holding out the Trainium2 70B tutorial leaves NxD Inference (neuronx-distributed) on Trainium2
    without a calibration run. It borrows, on the same chip, from optimum-neuron's vLLM, whose models are
    NxD Inference's (runtime neuronx-distributed): the graphs' per-layer floors and collectives, not that
    front-end's host step (22.136 ms of its 8B batch-1 TPOT less the 15.8 ms its compiled step's reads
    take, 6.3 ms),
    which is its own scheduler's and sampler's. The same stack on a nearest chip keeps its host floors."""
    from hwprof.perf.fit import loso

    view = loso.without(reg, "neuron-trn2-llama70b-tutorial")
    k = _with_evidence(loso.refit(view, loso.shipped(reg), {"serve"}).serve, view)
    nxd = sl.stack_of(reg.chip("trainium2"), "neuronx-distributed", k)
    assert nxd.borrowed and nxd.floors_from == "optimum-neuron-vllm on trainium2"
    assert (nxd.step_host_us, nxd.request_host_us) == (0.0, 0.0)
    optimum = sl.stack_of(reg.chip("trainium2"), "optimum-neuron-vllm", k)
    floorless = attrs.evolve(k, floors=tuple((name, 0.0) for name, _ in k.floors))
    eight = serve_cases.predict(view.validation_cases["cal-serve-optimum-trn2-8b-sync-tpot"], view, floorless)
    # 8B in bf16 and the cache of the compiled batch 32 x 4,096 positions (32 layers x 8 KV heads x 128 x 2 x
    # 2 bytes per token), over one chip's 2.9 TB/s x 0.724
    reads = 8.03e9 * 2 + 32 * 4096 * 32 * 8 * 128 * 2 * 2
    assert eight["expected"] == pytest.approx(reads / (2.9e12 * 0.724), rel=3e-3)
    assert optimum.step_host_us * 1e-6 == pytest.approx(0.022136 - eight["expected"], rel=1e-3)
    case = reg.validation_cases["cal-serve-trn2-70b-tpot"]
    held = serve_cases.predict(case, view, k)["expected"]
    assert held == pytest.approx(serve_cases.predict(case, view, floorless)["expected"], rel=1e-6)
    # the same front-end on the nearest chip brings its host step along
    nearest = sl.stack_of(reg.chip("trainium3"), "optimum-neuron-vllm", _with_evidence(sl.SHIPPED, reg))
    assert nearest.borrowed and nearest.floors_from == "optimum-neuron-vllm on trainium2"
    assert nearest.step_host_us == pytest.approx(optimum.step_host_us, rel=5e-3)
    # with the tutorial on file the stack has its own run: no borrowing, no floor beyond the pooled latency
    own = sl.stack_of(reg.chip("trainium2"), "neuronx-distributed", _with_evidence(sl.SHIPPED, reg))
    assert not own.borrowed and own.floors_from == "" and own.step_host_us == 0.0


def test_a_held_out_front_end_takes_its_host_floors_from_the_nearest_chip(reg: registry.Registry) -> None:
    """Holding out optimum-neuron's single-instance benchmark leaves its vLLM on Trainium2 without a run:
    the graphs' floors come from the same chip's NxD Inference (runtime neuronx-distributed), the host
    floors from the same front-end on the nearest chip, Trainium1, whose data-parallel runs set them
    (10.39 ms per step, 51 ms per request). Inside that borrowing nothing else changes."""
    from hwprof.perf.fit import loso

    view = loso.without(reg, "optimum-neuron-bench")
    k = _with_evidence(loso.refit(view, loso.shipped(reg), {"serve"}).serve, view)
    held = sl.stack_of(reg.chip("trainium2"), "optimum-neuron-vllm", k)
    trn1 = sl.stack_of(reg.chip("trainium1"), "optimum-neuron-vllm", k)
    assert held.borrowed and held.floors_from == (
        "neuronx-distributed on trainium2 (host floors: optimum-neuron-vllm on trainium1)"
    )
    assert (held.step_host_us, held.request_host_us) == (trn1.step_host_us, trn1.request_host_us)
    assert trn1.step_host_us == pytest.approx(10_390, rel=0.03) and not trn1.borrowed
    nxd = sl.stack_of(reg.chip("trainium2"), "neuronx-distributed", k)
    assert held.step_floor_us == nxd.step_floor_us and held.collective_latency_us == nxd.collective_latency_us
    # NxD Inference has no front-end of its own elsewhere: held out, it still borrows no host floors
    alone = loso.without(reg, "neuron-trn2-llama70b-tutorial")
    k2 = _with_evidence(loso.refit(alone, loso.shipped(reg), {"serve"}).serve, alone)
    assert sl.stack_of(reg.chip("trainium2"), "neuronx-distributed", k2).step_host_us == 0.0


def test_borrowing_goes_same_chip_same_runtime_then_the_nearest_chips(reg: registry.Registry) -> None:
    k = _with_evidence(sl.SHIPPED, reg)
    trn3 = reg.chip("trainium3")  # nearest: trainium2, then trainium1
    nxd = sl.stack_of(trn3, None, k)  # its default, which its profile does not describe
    assert (nxd.name, nxd.floors_from, nxd.borrowed) == (
        "neuronx-distributed",
        "neuronx-distributed on trainium2",
        True,
    )
    assert nxd.prompt_buckets == POW2 and not nxd.chunked_prefill  # the software's scheduling comes along
    optimum = sl.stack_of(trn3, "optimum-neuron-vllm", k)
    assert (optimum.step_host_us, optimum.request_host_us) == (6_299, 21_100)  # Trainium2's, as shipped
    # Trainium1's stack shares no runtime with Trainium2's: held out, it borrows nothing
    view = attrs.evolve(reg, validation_cases={key: c for key, c in reg.validation_cases.items()
                                               if c.chip != "trainium1"})  # fmt: skip
    held = sl.stack_of(reg.chip("trainium1"), None, attrs.evolve(_with_evidence(sl.SHIPPED, view),
                                                                 floors=(("trainium1.transformers-neuronx.request_floor_us", 0.0),
                                                                         ("trainium1.transformers-neuronx.collective_latency_us", 0.0))))  # fmt: skip
    assert not held.borrowed and held.request_floor_us == 0.0 and held.collective_latency_us is None
    # the H200 counts the H100's TensorRT-LLM runs as its own (evidence_from): its floors, not borrowed
    h200 = sl.stack_of(reg.chip("h200-sxm"), None, k)
    h100 = reg.chip("h100-sxm").serving_stacks["tensorrt-llm"]
    assert (h200.request_floor_us, h200.floors_from, h200.borrowed) == (h100.request_floor_us.value,
                                                                       "tensorrt-llm on h100-sxm", False)  # fmt: skip


def test_a_validation_case_gives_a_stack_no_evidence(reg: registry.Registry) -> None:
    """Only calibration runs make a chip x stack's floors its own: a validation case on Trainium3 leaves
    it borrowing."""
    case = attrs.evolve(reg.validation_cases["cal-serve-trn2-70b-tpot"], id="val-x", role="validation",
                        chip="trainium3", calibrates=())  # fmt: skip
    more = attrs.evolve(reg, validation_cases={**reg.validation_cases, "val-x": case})
    assert sl.stack_of(reg.chip("trainium3"), None, _with_evidence(sl.SHIPPED, more)).borrowed
    made = attrs.evolve(case, role="calibration")
    own = attrs.evolve(reg, validation_cases={**reg.validation_cases, "val-x": made})
    assert ("trainium3", "neuronx-distributed") in serve_cases.evidence_of(own).measured


# --- prefill efficiency: a chip x stack's, borrowed as the per-layer floors are -------------------------

NXD2 = "trainium2.neuronx-distributed.prefill_efficiency"
TNX1 = "trainium1.transformers-neuronx.prefill_efficiency"


def test_a_stack_without_a_prefill_efficiency_takes_its_runtimes_on_the_same_chip(reg: registry.Registry) -> None:
    """A refit that gives NxD Inference on Trainium2 1.3: optimum-neuron's vLLM there (the same runtime,
    neuronx-distributed) prefills at 1.3 x the pooled prompt compute fraction, and says where it came from."""
    k = _with_evidence(sl.Constants(prefill=((NXD2, 1.3),)), reg)
    trn2 = reg.chip("trainium2")
    optimum = sl.stack_of(trn2, "optimum-neuron-vllm", k)
    assert (optimum.prefill_efficiency, optimum.prefill_from) == (1.3, "neuronx-distributed on trainium2")
    own = sl.stack_of(trn2, "neuronx-distributed", k)
    assert (own.prefill_efficiency, own.prefill_from) == (1.3, "")
    work, target, lay = reg.workload("llama3.1-8b"), on(reg, "trn2.48xlarge", 1), sl.ServeLayout(tp=1)
    bare, borrowed = sl.replica(work, target, lay, k), sl.replica(work, target, lay, k, optimum)
    assert borrowed.prefill_flops_per_s == pytest.approx(1.3 * bare.prefill_flops_per_s)
    assert borrowed.batched_prefill_flops_per_s == pytest.approx(1.3 * bare.batched_prefill_flops_per_s)
    assert borrowed.decode_flops_per_s == bare.decode_flops_per_s  # prompts only
    est = serving.estimate_serve(work, target, lay, serving.Traffic(1000, 100, concurrency=1), constants=k,
                                 stack=optimum)  # fmt: skip
    assert any("x1.3 of the pooled prompt compute fraction, the prefill efficiency of neuronx-distributed on "
               "trainium2" in line for line in est.assumptions)  # fmt: skip


def test_a_stack_on_another_runtime_does_not_take_the_chips_prefill_efficiency(reg: registry.Registry) -> None:
    """Transformers NeuronX (its own runtime) at 0.6 and NxD Inference on Trainium2 at 1.3: optimum-neuron's
    vLLM on Trainium1 runs NxD's graphs, so it takes the nearest chip's NxD figure, not the 0.6 of the
    other runtime on its own chip; and Transformers NeuronX without a figure borrows none (1)."""
    trn1 = reg.chip("trainium1")
    both = _with_evidence(sl.Constants(prefill=((NXD2, 1.3), (TNX1, 0.6))), reg)
    assert sl.stack_of(trn1, None, both).prefill_efficiency == 0.6  # the default stack's own
    optimum = sl.stack_of(trn1, "optimum-neuron-vllm", both)
    assert (optimum.prefill_efficiency, optimum.prefill_from) == (1.3, "neuronx-distributed on trainium2")
    only_tnx = _with_evidence(sl.Constants(prefill=((TNX1, 0.6),)), reg)
    alone = sl.stack_of(trn1, "optimum-neuron-vllm", only_tnx)
    assert (alone.prefill_efficiency, alone.prefill_from) == (1.0, "")
    no_tnx = sl.stack_of(trn1, "transformers-neuronx", _with_evidence(sl.Constants(prefill=((NXD2, 1.3),)), reg))
    assert (no_tnx.prefill_efficiency, no_tnx.prefill_from) == (1.0, "")
    # shipped: the profiles' figures, each on its stack
    shipped = _with_evidence(sl.SHIPPED, reg)
    tnx_figure = trn1.serving_stacks["transformers-neuronx"].prefill_efficiency.value
    assert sl.stack_of(trn1, None, shipped).prefill_efficiency == tnx_figure
    nxd_figure = reg.chip("trainium2").serving_stacks["neuronx-distributed"].prefill_efficiency.value
    assert sl.stack_of(trn1, "optimum-neuron-vllm", shipped).prefill_efficiency == nxd_figure
    assert sl.stack_of(reg.chip("trainium3"), None, shipped).prefill_from == "neuronx-distributed on trainium2"
    assert sl.stack_of(reg.chip("h100-sxm"), None, shipped).prefill_efficiency == 1.0  # the pooled fraction's stack


def test_a_held_out_prefill_efficiency_is_borrowed_by_the_same_rule(reg: registry.Registry) -> None:
    """Holding out the Trainium2 70B tutorial takes NxD Inference's only prefill case with it: no stack on
    its runtime has a figure left (optimum-neuron's vLLM has none on either chip), so both Trainium2 stacks
    and Trainium1's optimum-neuron prefill at 1, while Transformers NeuronX keeps its own. Holding out
    optimum-neuron's Trainium1 runs leaves its estimate borrowing NxD Inference's Trainium2 figure."""
    from hwprof.perf.fit import loso

    view = loso.without(reg, "neuron-trn2-llama70b-tutorial")
    fitted = loso.refit(view, loso.shipped(reg), {"serve"})
    figures = dict(fitted.serve.prefill)
    assert NXD2 not in figures
    assert figures[TNX1] == pytest.approx(reg.chip("trainium1").serving_stacks["transformers-neuronx"]
                                          .prefill_efficiency.value, rel=0.03)  # fmt: skip
    case = view.validation_cases["cal-serve-optimum-trn2-8b-sync-ttft"]
    assert loso.serve_constants(fitted, view, case)[1] == "reference"  # never had one: the pooled fraction
    assert loso.serve_constants(fitted, view, reg.validation_cases["cal-serve-trn2-70b-ttft"])[1] == "none"
    k = _with_evidence(fitted.serve, view)
    assert sl.stack_of(reg.chip("trainium1"), "optimum-neuron-vllm", k).prefill_efficiency == 1.0
    other = loso.without(reg, "optimum-neuron-dp-bench")
    held = loso.refit(other, loso.shipped(reg), {"serve"})
    trn1_case = reg.validation_cases["cal-serve-optimum-trn1-8b-sync-ttft"]
    assert loso.serve_constants(held, other, trn1_case)[1] == "borrowed from neuronx-distributed on trainium2"
    borrowed = sl.stack_of(reg.chip("trainium1"), "optimum-neuron-vllm", _with_evidence(held.serve, other))
    assert borrowed.prefill_efficiency == dict(held.serve.prefill)[NXD2]


def test_a_chip_prefill_efficiency_is_its_default_stacks(reg: registry.Registry) -> None:
    """A profile written when the figure was the chip's (``[chip.prefill_efficiency]``): it is the default
    stack's, so another runtime's stack on the chip does not take it, and the class follows the stack."""
    from hwprof.data import records
    from hwprof.perf import ranges

    trn1 = reg.chip("trainium1")
    entry = trn1.serving_stacks["transformers-neuronx"]
    source = entry.prefill_efficiency.source
    old = attrs.evolve(trn1, prefill_efficiency=records.Figure(0.5, source, "derived"),
                       serving_stacks={**trn1.serving_stacks,
                                       "transformers-neuronx": attrs.evolve(entry, prefill_efficiency=None)})  # fmt: skip
    assert sl.stack_of(old).prefill_efficiency == 0.5
    k = _with_evidence(sl.SHIPPED, reg)
    assert sl.stack_of(old, "optimum-neuron-vllm", k).prefill_from == "neuronx-distributed on trainium2"
    # a stack's own figure takes precedence over the chip's
    assert sl.stack_of(attrs.evolve(old, serving_stacks=trn1.serving_stacks)).prefill_efficiency == (
        entry.prefill_efficiency.value
    )
    mine, tnx, opt = {"trainium1"}, ("trainium1", "transformers-neuronx"), ("trainium1", "optimum-neuron-vllm")
    assert ranges.evidence("serve", old, mine, "transformers-neuronx", {tnx}) == "corrected"
    assert ranges.evidence("serve", old, mine) == "corrected"  # the default stack
    assert ranges.evidence("serve", old, mine, "optimum-neuron-vllm", {opt}) == "own"  # not its figure
    # a calibration case naming the chip's figure fits its default stack's
    case = attrs.evolve(reg.validation_cases["cal-serve-tnx-trn1-llama2-70b-1024-ttft"],
                        calibrates=("trainium1.prefill_efficiency",))  # fmt: skip
    assert list(serve_cases.prefill_cases(reg, [case])) == [TNX1]
    assert serve_cases.shipped_figure(reg, "trainium1.prefill_efficiency") is entry.prefill_efficiency
