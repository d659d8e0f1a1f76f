"""Model shapes read from Hugging Face config.json files: parameter counts against the published ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwprof.data.hf_config import from_hf_config
from hwprof.errors import HwprofError
from tests import FIXTURES

CONFIGS = FIXTURES / "configs"


def test_llama_31_8b_config_counts_8_03b_parameters() -> None:
    shape = from_hf_config(CONFIGS / "llama-3.1-8b.json")
    per_layer = 4096 * 4096 * 2 + 4096 * 1024 * 2 + 3 * 4096 * 14336  # q, o; k, v (8 KV heads); gated MLP
    assert shape.params == 32 * per_layer + 2 * 128256 * 4096
    assert shape.params == pytest.approx(8.03e9, rel=0.001)  # the model card's 8.03B
    assert shape.kv_elements_per_token() == 2 * 32 * 8 * 128


def test_deepseek_v3_config_counts_671b_total_and_37b_active() -> None:
    shape = from_hf_config(CONFIGS / "deepseek-v3.json")
    # DeepSeek-V3 report: 671B total (without the 14B multi-token-prediction module), 37B active.
    assert shape.params == pytest.approx(671e9, rel=0.005)
    assert shape.active_params == pytest.approx(37e9, rel=0.02)
    assert shape.kv_elements_per_token() == 61 * (512 + 64)  # MLA caches the latent and the rope key


def test_a_config_without_the_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"hidden_size": 4096}', encoding="utf-8")
    with pytest.raises(HwprofError, match="needs hidden_size, num_hidden_layers"):
        from_hf_config(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(HwprofError, match="not valid JSON"):
        from_hf_config(path)
