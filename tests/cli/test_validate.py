"""``hwprof validate``'s table footer: what it says beside the rows."""

from __future__ import annotations

from hwprof.cli.validate import _prefill_line


def test_the_footer_names_where_a_held_out_prefill_efficiency_came_from() -> None:
    def row(chip: str, stack: str, how: str, kind: str = "serve") -> dict[str, str]:
        return {"chip": chip, "stack": stack, "software_factor": how, "kind": kind}

    borrowed = "borrowed from neuronx-distributed on trainium2"
    rows = [row("trainium1", "optimum-neuron-vllm", borrowed), row("trainium1", "optimum-neuron-vllm", borrowed),
            row("trainium1", "transformers-neuronx", "none"), row("h100-sxm", "tensorrt-llm", "reference"),
            row("trainium1", "-", "borrowed", kind="train")]  # fmt: skip
    line = _prefill_line(rows)
    assert f"optimum-neuron-vllm on trainium1 {borrowed} (2 cases)" in line
    assert line.endswith("; transformers-neuronx on trainium1 none (1 case)")
    assert "h100-sxm" not in line and "- on trainium1" not in line  # the pooled fraction's own; a training row
    assert _prefill_line([row("h100-sxm", "tensorrt-llm", "own")]) == ""
