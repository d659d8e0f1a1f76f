"""The range widths (data): written by ``python -m hwprof.core.perf.ranges_fit --write``; do not edit.

(kind, evidence class): (low, high, cases, own_cases, factor), low/high in log(published time /
model's time) at 90% nominal coverage; see ``hwprof.core.perf.ranges`` for the procedure.
"""

WIDTHS: dict[tuple[str, str], tuple[float, float, int, int, float]] = {
    ("train", "own"): (-0.4578, 0.4364, 24, 18, 1),
    ("train", "corrected"): (-0.4578, 0.4364, 24, 5, 1),
    ("train", "borrowed"): (-0.7706, 0.7393, 24, 1, 2),
    ("train", "other"): (-0.6137, 0.1108, 2, 2, 1),
    ("serve", "own"): (-0.1697, 0.7473, 30, 30, 1),
    ("serve", "corrected"): (-0.1067, 0.6602, 59, 4, 1),
    ("serve", "borrowed"): (-0.0814, 0.9185, 25, 25, 1),
    ("serve", "other"): (0.0000, 4.4418, 11, 11, 1),
    ("search", "own"): (-0.0900, 0.7676, 24, 18, 1),
    ("search", "corrected"): (-0.0900, 0.7676, 24, 5, 1),
    ("search", "borrowed"): (-0.1725, 1.1967, 24, 1, 2),
    ("search", "other"): (0.0000, 0.2410, 2, 2, 1),
}
