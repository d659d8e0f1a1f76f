"""The model of an estimate, named once: a preset id, a Hugging Face config.json, or counts."""

from __future__ import annotations

from pathlib import Path

from ..data import records
from ..errors import HwprofError
from .session import current_registry


def resolve(
    model: str | Path | records.Workload | None = None,
    *,
    params: float | None = None,
    active_params: float | None = None,
    layers: int | None = None,
    hidden: int | None = None,
    heads: int | None = None,
    kv_heads: int | None = None,
    model_config: Path | None = None,
    seq_len: int | None = None,
) -> records.Workload:
    """The workload named by exactly one of ``model`` (a preset id, a config.json path or a Workload),
    ``params`` (with the shape where known) or ``model_config``. ``seq_len`` is kept for counts."""
    from ..data import hf_config

    if isinstance(model, records.Workload):
        return model
    if isinstance(model, Path) or (isinstance(model, str) and model.endswith(".json")):
        model_config, model = Path(model), None
    given = [f"`{name}`" for name, v in (("model", model), ("params", params), ("model_config", model_config)) if v]
    if len(given) != 1:
        raise HwprofError("give the model once: `model` ID, `params` N (with `layers`/`hidden`/`heads` for "
                          f"attention and KV cache) or `model_config` PATH{'; got ' + ', '.join(given) if given else ''}")  # fmt: skip
    if model:
        return current_registry().workload(str(model))
    if model_config:
        return hf_config.from_hf_config(model_config)
    from ..data import shape

    assert params is not None
    counts = {"params": params, "active_params": active_params, "layers": layers, "hidden": hidden, "heads": heads,
              "kv_heads": kv_heads}  # fmt: skip
    if found := shape.problems({name: f"`{name}`" for name in counts}, **counts):  # the checks of profiles, config.json
        raise HwprofError(found[0][1])
    return records.Workload.given(params, source="given on the command line", active_params=active_params or params,
                                  layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads,
                                  seq_len=seq_len)  # fmt: skip


def global_batch_seqs(work: records.Workload, global_batch_tokens: float | None, seq_len: int | None) -> int | None:
    """Sequences per optimizer step for a batch given in tokens (None: the model's default)."""
    seq = seq_len or work.seq_len
    if global_batch_tokens is not None and (not global_batch_tokens > 0 or not seq):
        raise HwprofError("`global_batch_tokens` must be positive, with a known sequence length (`seq_len`)")
    return max(1, round(global_batch_tokens / seq)) if global_batch_tokens and seq else None
