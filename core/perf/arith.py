"""One formula, two kinds of number: the performance model's formulas take ``xp``, a namespace
with ``maximum``, ``minimum``, ``where``, ``ceil``, ``log2`` and ``floor``.

``SCALAR`` works on plain floats (one estimate); ``numpy`` itself works on arrays (the layout
search evaluates a million layouts at once). Writing each formula once keeps the search and the
estimate from drifting apart; numpy is imported only by the search.
"""

from __future__ import annotations

import math
from typing import Any


class _Scalar:
    @staticmethod
    def maximum(a: Any, b: Any) -> Any:
        return a if a >= b else b

    @staticmethod
    def minimum(a: Any, b: Any) -> Any:
        return a if a <= b else b

    @staticmethod
    def where(condition: Any, a: Any, b: Any) -> Any:
        return a if condition else b

    @staticmethod
    def ceil(a: Any) -> Any:
        return math.ceil(a)

    @staticmethod
    def floor(a: Any) -> Any:
        return math.floor(a)

    @staticmethod
    def log2(a: Any) -> Any:
        return math.log2(a)


SCALAR: Any = _Scalar()
