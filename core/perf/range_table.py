"""The range widths (data): written by ``python -m hwprof.core.perf.ranges_fit --write``; do not edit.

(kind, evidence class): (low, high, cases, own_cases, factor), low/high in log(published time /
model's time) at 90% nominal coverage; see ``hwprof.core.perf.ranges`` for the procedure.
"""

WIDTHS: dict[tuple[str, str], tuple[float, float, int, int, float]] = {
    ("train", "own"): (-0.3191, 0.5331, 24, 18, 1),
    ("train", "corrected"): (-0.3191, 0.5331, 24, 5, 1),
    ("train", "borrowed"): (-0.5606, 0.8790, 24, 1, 2),
    ("train", "other"): (-0.6656, 0.1295, 2, 2, 1),
    ("serve", "own"): (-0.2118, 0.7473, 30, 30, 1),
    ("serve", "corrected"): (-0.1676, 0.5472, 59, 4, 1),
    ("serve", "borrowed"): (-0.0514, 0.9291, 25, 25, 1),
    ("serve", "other"): (0.0000, 4.4392, 11, 11, 1),
    ("search", "own"): (-0.0600, 0.8155, 24, 18, 1),
    ("search", "corrected"): (-0.0600, 0.8155, 24, 5, 1),
    ("search", "borrowed"): (-0.1167, 1.2587, 24, 1, 2),
    ("search", "other"): (0.0000, 0.2995, 2, 2, 1),
}
