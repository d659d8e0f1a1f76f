"""Training layouts: written as ``--layout`` takes them, read back the same."""

from __future__ import annotations

from hwprof.perf.train import layout


def test_a_layout_reads_back_from_its_text_and_its_keys() -> None:
    lay = layout.Layout(tp=4, pp=2, dp=8, vpp=2, zero=3, recompute="full", uneven=1, grads=16, etp=1)
    assert str(lay) == "tp=4,pp=2,dp=8,cp=1,ep=1,vpp=2,mb=1,zero=3,recompute=full,sp=1,uneven=1,grads=16,etp=1"
    assert layout.parse(str(lay)) == lay
    keys = {"tp": 4, "pp": 2}
    assert layout.from_keys(keys, 64).dp == 8  # 64 chips / (4 x 2)
    assert keys == {"tp": 4, "pp": 2}  # the keys given are left as they were
