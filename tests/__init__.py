"""The tests, filed as the code is: tests/perf/train/test_step.py tests core/perf/train/step.py."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
