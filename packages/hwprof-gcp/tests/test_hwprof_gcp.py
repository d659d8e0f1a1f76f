"""The package registers Google Cloud's A3 machine types and prices, checked as hwprof checks any
profile. Needs only what pyproject.toml declares (hwprof): `python -m unittest discover -s tests`."""

import unittest

import hwprof_gcp

from hwprof.cost import pricing
from hwprof.data.registry import Settings, build

BUILTINS = ("nvidia_h100", "nvidia_h200")  # the chips and NVLink this package builds on


class GcpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        allow = frozenset({*BUILTINS, "gcp-under-test"})
        cls.registry = build(Settings(allow=allow), extra_plugins=[("gcp-under-test", hwprof_gcp.plugin)])

    def test_loads_without_a_warning(self) -> None:
        self.assertEqual(self.registry.warnings, [])

    def test_machine_types_are_eight_gpus_on_the_built_in_chips(self) -> None:
        systems = {s.id: (s.chip, s.chips) for s in self.registry.systems.values() if s.id.startswith("a3-")}
        self.assertEqual(systems, {"a3-highgpu-8g": ("h100-sxm", 8), "a3-megagpu-8g": ("h100-sxm", 8),
                                   "a3-ultragpu-8g": ("h200-sxm", 8)})  # fmt: skip

    def test_gpu_network_per_chip_is_the_instance_figure_over_eight(self) -> None:
        # 800, 1,600 and 3,200 Gbps for the GPUs / 8 bits / 8 GPUs
        for link, per_chip in (("gcp-a3-high-tcpx", 12.5), ("gcp-a3-mega-tcpxo", 25), ("gcp-a3-ultra-rdma", 50)):
            record = self.registry.interconnects[link]
            self.assertEqual(record.bandwidth_per_chip_gb_s.value, per_chip)
            self.assertEqual(record.bandwidth_per_system_gb_s.value, per_chip * 8)

    def test_every_price_is_sourced_and_dated(self) -> None:
        model = self.registry.cost_models["gcp"]
        self.assertTrue(model.prices)
        for price in model.prices:
            self.assertTrue(price.source.url and price.observed, price)

    def test_committed_prices_are_the_monthly_figure_over_730_hours_and_below_on_demand(self) -> None:
        model, system = self.registry.cost_models["gcp"], self.registry.systems["a3-highgpu-8g"]
        on_demand = pricing.quote(model, system, "on-demand", "us-central1").usd_per_hour
        one_year = pricing.quote(model, system, "reserved-1yr", "us-central1").usd_per_hour
        three_years = pricing.quote(model, system, "reserved-3yr", "us-central1").usd_per_hour
        self.assertAlmostEqual(one_year, 44810.08066464 / 730, places=3)
        self.assertAlmostEqual(three_years, 28370.99821392 / 730, places=3)
        self.assertLess(three_years, one_year)
        self.assertLess(one_year, on_demand)

    def test_a_missing_committed_price_says_why(self) -> None:
        model = self.registry.cost_models["gcp"]
        with self.assertRaisesRegex(Exception, "Hypercompute Cluster"):
            pricing.quote(model, self.registry.systems["a3-ultragpu-8g"], "reserved-1yr")


if __name__ == "__main__":
    unittest.main()
