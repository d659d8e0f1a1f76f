"""The tests, filed as the code is: tests/perf/train/test_step.py tests core/perf/train/step.py."""

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def find(data: Any, key: str) -> Any:
    """The first value stored under ``key`` anywhere in a JSON document (results change shape; keys stay)."""
    if isinstance(data, dict):
        if key in data:
            return data[key]
        data = list(data.values())
    if isinstance(data, list):
        for item in data:
            found = find(item, key)
            if found is not None:
                return found
    return None
