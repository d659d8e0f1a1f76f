"""Checks that catch a vendor's mistakes: a figure no chip has is refused with file, line, field and
unit (and the unit it was likely typed in); an unusual one is a warning; `profiles check` takes
files, folders and the installed plugins, and names both sources of an id registered twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest

from hwprof.data import records, registry, rules, verify
from hwprof.data.kinds import BY_ATTRIBUTE
from tests.conftest import chip_profile
from tests.facts import error_line, facts

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _bandwidth(value: str) -> str:
    return chip_profile().replace(
        "memory_bandwidth_tbps = { value = 1.5,", f"memory_bandwidth_tbps = {{ value = {value},"
    )


def test_bandwidth_typed_in_gb_per_s_fails_with_file_line_and_unit(run_cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "x1.toml"
    path.write_text(_bandwidth("3350"))  # H100's 3.35 TB/s, typed in GB/s
    line = path.read_text().splitlines().index(next(x for x in path.read_text().splitlines() if "bandwidth" in x)) + 1
    result = run_cli("profiles", "check", path)
    assert result.code == 1
    assert result.out.count("\n") == 1
    facts(result.out, f"{path}:{line}: chip[0].memory_bandwidth_tbps.value:", "3,350 TB/s", "0.01..100 TB/s", "GB/s?")


def test_flops_beyond_any_chip_are_refused(run_cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "x1.toml"
    path.write_text(chip_profile().replace("fp8 = { value = 100,", "fp8 = { value = 1e18,"))  # 10^30 FLOP/s
    result = run_cli("profiles", "check", path)
    assert result.code == 1
    assert "chip[0].peak_dense_tflops.fp8.value: 1e18 TFLOPS is outside 0.001..1,000,000 TFLOPS\n" in result.out


def test_an_unusual_figure_is_a_warning_not_an_error(run_cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "x1.toml"
    path.write_text(_bandwidth("40"))  # possible, but above every chip on file
    result = run_cli("profiles", "check", path)
    assert result.code == 0
    assert result.out == f"ok: {path} (1 chip)\n"
    assert "chip[0].memory_bandwidth_tbps.value: 40 TB/s is unusual (most lie in 0.1..30 TB/s)" in result.err


@pytest.mark.parametrize(
    ("field", "value", "verdict"),
    [
        ((records.Chip, "tdp_w"), 0.7, ("error", "0.7 W is outside 1..100,000 W: is it in kW?")),
        ((records.Chip, "memory_gib"), 80 * 2**30, ("error", "8.58993e10 GiB is outside 0.01..100,000 GiB: is it in bytes?")),
        ((records.Chip, "peak_dense_tflops"), 989e12, ("error", "9.89e14 TFLOPS is outside 0.001..1,000,000 TFLOPS: is it in FLOP/s?")),
        ((records.Interconnect, "latency_us"), 5000, ("warning", "5,000 us is unusual (most lie in 0.05..1,000 us): is it in ns?")),
        ((records.Price, "usd_per_hour"), 40_000, ("warning", "40,000 USD/h is unusual (most lie in 0.01..10,000 USD/h): is it in USD per month?")),
        ((records.Chip, "memory_bandwidth_tbps"), 3.35, None),
        ((records.Interconnect, "bandwidth_per_chip_gb_s"), 900, None),
    ],
)  # fmt: skip
def test_each_field_judged_in_its_unit(field: tuple[type, str], value: float, verdict: Any) -> None:
    assert rules.PLAUSIBLE[field].judge(value) == verdict


def test_every_shipped_figure_is_plausible(builtin_registry: registry.Registry) -> None:
    """The ranges are wide enough for every chip, link and price the project ships."""
    for attribute in ("chips", "interconnects", "cost_models"):
        for record in getattr(builtin_registry, attribute).values():
            assert verify.unusual(record, BY_ATTRIBUTE[attribute]) == [], record.id


def test_a_plugin_record_with_an_impossible_figure_is_refused() -> None:
    good = registry.build(registry.Settings()).chips["h100-sxm"]
    typo = attrs.evolve(good, memory_bandwidth_tbps=attrs.evolve(good.memory_bandwidth_tbps, value=3350.0))
    [problem] = verify.problems(typo, BY_ATTRIBUTE["chips"])
    facts(problem, "chip 'h100-sxm'", "memory_bandwidth_tbps.value", "3,350 TB/s", "0.01..100 TB/s", "GB/s?")


def test_check_takes_a_folder(run_cli: Any, tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(chip_profile("chip-a"))
    (tmp_path / "b.toml").write_text(_bandwidth("3350").replace('"testchip"', '"chip-b"'))
    result = run_cli("profiles", "check", tmp_path)
    assert result.code == 1
    assert result.out.splitlines()[0] == f"ok: {tmp_path / 'a.toml'} (1 chip)"
    assert f"{tmp_path / 'b.toml'}:" in result.out.splitlines()[1]
    empty = tmp_path / "empty"
    empty.mkdir()
    error_line(run_cli("profiles", "check", empty).err, f"{empty}:", "no *.toml")


def _install_ownership_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """The on-premises ownership cost model of tests/fixtures, as if pip-installed: a computed cost model."""
    from hwprof.data import plugin_loading

    monkeypatch.syspath_prepend(str(FIXTURES / "hwprof-onprem-ownership"))
    installed = plugin_loading.entry_points
    point = ("onprem", "hwprof_onprem_ownership", "hwprof-onprem-ownership")
    monkeypatch.setattr(plugin_loading, "entry_points", lambda: [*installed(), point])


def test_check_of_the_installed_plugins_with_a_computed_cost_model(
    run_cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _install_ownership_example(monkeypatch)
    result = run_cli("profiles", "check")
    assert result.code == 0, result.output
    assert "ok: plugin 'onprem' (1 cost model)" in result.out.splitlines()
    assert any(line.startswith("ok: plugin 'nvidia_h100' (1 chip, ") for line in result.out.splitlines())
    # A file checked against the same registry reads the computed model's missing origin without crashing.
    path = tmp_path / "x1.toml"
    path.write_text(chip_profile())
    assert run_cli("profiles", "check", path).out == f"ok: {path} (1 chip)\n"


def test_an_id_registered_twice_is_an_error_naming_both(
    run_cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "mine.toml").write_text(chip_profile("h100-sxm"))
    monkeypatch.setenv("HWPROF_PROFILE_PATH", str(tmp_path))
    result = run_cli("profiles", "check")
    assert result.code == 1
    [clash] = [line for line in result.out.splitlines() if "'h100-sxm'" in line]
    facts(clash, f"profile {tmp_path / 'mine.toml'}", "chip id 'h100-sxm'", "plugin 'nvidia_h100'", "rename it",
          "override = true")  # fmt: skip
    (tmp_path / "mine.toml").write_text(chip_profile("h100-sxm", override=True))
    registry.reset()
    assert run_cli("profiles", "check").code == 0


def test_a_number_too_big_for_a_float_is_refused_not_crashed_on(run_cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "x1.toml"
    path.write_text(_bandwidth(str(10**400)))  # no float holds it: the range check must not multiply it
    result = run_cli("profiles", "check", path)
    assert result.code == 1 and "Traceback" not in result.err
    facts(result.out, "memory_bandwidth_tbps.value", "1e-09 to 1e18", "a 401-digit number")
