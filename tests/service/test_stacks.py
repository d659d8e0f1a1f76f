"""service.stacks: the stacks the data knows, each chip's default, and the evidence an estimate rests on."""

from __future__ import annotations

import pytest

from hwprof.errors import HwprofError
from hwprof.service import stacks
from hwprof.service.session import current_registry


def test_the_known_stacks_are_those_the_profiles_and_published_results_name() -> None:
    train, serve = stacks.known("train"), stacks.known("serve")
    # nemo-megatron: the H100's default and its calibration runs; torchtitan: the H100 profile's other stack;
    # axlearn: Trainium2's one published run
    assert {"nemo-megatron", "torchtitan", "axlearn"} <= set(train)
    assert {"tensorrt-llm", "neuronx-distributed", "optimum-neuron-vllm"} <= set(serve)
    assert "tensorrt-llm" not in train and "torchtitan" not in serve


def test_a_stack_is_checked_against_the_known_ones() -> None:
    assert stacks.checked(None, "train") is None
    assert stacks.checked(" torchtitan ", "train") == "torchtitan"
    with pytest.raises(HwprofError, match="did you mean 'torchtitan'") as typo:
        stacks.checked("torchtitn", "train")
    assert "known: " + ", ".join(stacks.known("train")) in str(typo.value)
    with pytest.raises(HwprofError, match="empty"):
        stacks.checked("  ", "serve")


def test_each_chip_has_its_default_and_a_stack_without_its_runs_is_other() -> None:
    r = current_registry()
    h100, trn2 = r.chip("h100-sxm"), r.chip("trainium2")
    assert stacks.default(h100, "train") == "nemo-megatron" and stacks.default(trn2, "train") == "axlearn"
    assert stacks.evidence(h100, "train", None) == stacks.evidence(h100, "train", "nemo-megatron") == "own"
    assert stacks.evidence(h100, "train", "torchtitan") == "other"
    assert stacks.evidence(trn2, "serve", "tensorrt-llm") == "other"


def test_a_serving_stack_the_chip_does_not_describe_borrows_its_default_figures() -> None:
    h100 = current_registry().chip("h100-sxm")
    borrowed, default = stacks.serving(h100, "optimum-neuron-vllm"), stacks.serving(h100, None)
    assert borrowed.name == "optimum-neuron-vllm" and default.name == "tensorrt-llm"
    assert borrowed.request_floor_us == default.request_floor_us > 0  # not zero: no description is no free stack


def test_mixed_evidence_is_said_in_one_line() -> None:
    assert stacks.mixed_note([("a", "x", "own"), ("b", "x", "own")]) == ""
    line = stacks.mixed_note([("a", "x", "own"), ("b", "x", "other")])
    assert (
        "\n" not in line and "a own (x), b other (x)" in line and "measured stack is compared with a borrowed" in line
    )
    assert "borrowed one" not in stacks.mixed_note([("a", "x", "own"), ("b", "y", "corrected")])


def test_a_stack_the_chips_profile_does_not_list_is_said_so() -> None:
    r = current_registry()
    trn2, h100 = r.chip("trainium2"), r.chip("h100-sxm")
    said = stacks.serve_basis(trn2, "tensorrt-llm", "other")
    assert "does not list tensorrt-llm" in said and all(s in said for s in trn2.serving_stacks)
    assert "does not list" not in stacks.serve_basis(trn2, "optimum-neuron-vllm", "own")  # listed
    assert "does not list" not in stacks.serve_basis(trn2, None, "own")  # its default
    assert "does not list" not in stacks.serve_basis(h100, "tensorrt-llm", "own")
