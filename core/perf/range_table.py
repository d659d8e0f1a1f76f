"""The range widths (data): written by ``python -m hwprof.perf.fit.ranges_fit --write``; do not edit.

(kind, evidence class): (low, high, cases, own_cases, factor), low/high in log(published time /
model's time) at 90% nominal coverage; see ``hwprof.perf.ranges`` for the procedure.
"""

WIDTHS: dict[tuple[str, str], tuple[float, float, int, int, float]] = {
    ("train", "own"): (-0.3045, 0.4806, 22, 22, 1),
    ("train", "corrected"): (-0.3045, 0.4806, 32, 8, 1),
    ("train", "borrowed"): (-0.5376, 0.8039, 32, 2, 2),
    ("train", "other"): (-0.5376, 0.8039, 58, 26, 2),
    ("serve", "own"): (-0.1615, 0.3626, 50, 50, 1),
    ("serve", "corrected"): (-0.2548, 0.9235, 65, 1, 1),
    ("serve", "borrowed"): (-0.4577, 1.3953, 65, 2, 2),
    ("serve", "other"): (-0.4577, 1.4209, 91, 26, 2),
    ("first", "own"): (-0.2548, 0.9235, 65, 10, 1),
    ("first", "corrected"): (-0.2548, 0.9235, 65, 1, 1),
    ("first", "borrowed"): (-0.4577, 1.3953, 65, 1, 2),
    ("first", "other"): (-0.4577, 3.0546, 90, 25, 2),
    ("search", "own"): (-0.1818, 0.6919, 22, 22, 1),
    ("search", "corrected"): (-0.1818, 0.6919, 32, 8, 1),
    ("search", "borrowed"): (-0.3355, 1.0969, 32, 2, 2),
    ("search", "other"): (-0.3355, 1.0969, 58, 26, 2),
}
