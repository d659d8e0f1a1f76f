"""Core knows no vendor: no chip, cloud or vendor name anywhere in core/ (code, comments, docs)."""

from __future__ import annotations

import re

from tests import ROOT

CORE = ROOT / "core"
NAMES = [
    "aws",
    "amazon",
    "ec2",
    "nvidia",
    "trainium",
    "trn2",
    "trn3",
    "h100",
    "h200",
    "neuron",
    "nvlink",
    "efa",
    "p5(?!0)",
]  # p50 is a percentile, not an instance
# A whole word, where underscores separate words too and a model number may follow:
# "aws_pricing" and "Trainium2" match, "flaws" and "neurons" do not.
PATTERN = re.compile(r"(?<![a-z0-9])(?:" + "|".join(NAMES) + r")[0-9]*(?![a-z0-9])", re.IGNORECASE)


def vendor_mentions(text: str) -> list[str]:
    return [m.group(0) for m in PATTERN.finditer(text)]


def test_pattern_matches_whole_words_only() -> None:
    assert vendor_mentions("flaws, neurons, hp5x, effable, ntrn2, Amazonian, sec2, ttft_p50_s") == []
    assert vendor_mentions("AWS aws_pricing NVLink4 h100-sxm Trainium2 (EFA) p5.48xlarge") == [
        "AWS", "aws", "NVLink4", "h100", "Trainium2", "EFA", "p5",
    ]  # fmt: skip


def test_core_names_no_vendor() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 8, "core/ not found"
    found = [
        f"{path.relative_to(CORE.parent)}:{number}: {word!r} in: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for word in vendor_mentions(line)
    ]
    assert found == [], "vendor names belong in plugins/ and profiles/:\n" + "\n".join(found)
