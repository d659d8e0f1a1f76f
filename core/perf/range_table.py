"""The range widths (data): written by ``python -m hwprof.perf.fit.ranges_fit --write``; do not edit.

(kind, evidence class): (low, high, cases, own_cases, factor), low/high in log(published time /
model's time) at 90% nominal coverage; see ``hwprof.perf.ranges`` for the procedure.
"""

WIDTHS: dict[tuple[str, str], tuple[float, float, int, int, float]] = {
    ("train", "own"): (-0.3045, 0.4806, 24, 18, 1),
    ("train", "corrected"): (-0.3045, 0.4806, 24, 5, 1),
    ("train", "borrowed"): (-0.5376, 0.8039, 24, 1, 2),
    ("train", "other"): (-0.1635, 0.2296, 23, 23, 1),
    ("serve", "own"): (-0.1696, 0.7473, 30, 30, 1),
    ("serve", "corrected"): (-0.0756, 0.6604, 59, 4, 1),
    ("serve", "borrowed"): (-0.0402, 0.9466, 25, 25, 1),
    ("serve", "other"): (0.0000, 4.4397, 11, 11, 1),
    ("search", "own"): (-0.1818, 0.6919, 24, 18, 1),
    ("search", "corrected"): (-0.1818, 0.6919, 24, 5, 1),
    ("search", "borrowed"): (-0.3355, 1.0969, 24, 1, 2),
    ("search", "other"): (0.0000, 0.6523, 23, 23, 1),
}
