"""The range widths (data): written by ``python -m hwprof.core.perf.ranges_fit --write``; do not edit.

(kind, evidence class): (low, high, cases, own_cases, factor), low/high in log(published time /
model's time) at 90% nominal coverage; see ``hwprof.core.perf.ranges`` for the procedure.
"""

WIDTHS: dict[tuple[str, str], tuple[float, float, int, int, float]] = {
    ("train", "own"): (-0.3783, 0.4518, 24, 18, 1),
    ("train", "corrected"): (-0.3783, 0.4518, 24, 5, 1),
    ("train", "borrowed"): (-0.6522, 0.7619, 24, 1, 2),
    ("train", "other"): (-0.6471, 0.1108, 2, 2, 1),
    ("serve", "own"): (-0.2106, 0.7473, 30, 30, 1),
    ("serve", "corrected"): (-0.1671, 0.5467, 59, 4, 1),
    ("serve", "borrowed"): (-0.0590, 0.9263, 25, 25, 1),
    ("serve", "other"): (0.0000, 4.4418, 11, 11, 1),
    ("search", "own"): (-0.1116, 0.7736, 24, 18, 1),
    ("search", "corrected"): (-0.1116, 0.7736, 24, 5, 1),
    ("search", "borrowed"): (-0.2119, 1.2045, 24, 1, 2),
    ("search", "other"): (0.0000, 0.2897, 2, 2, 1),
}
