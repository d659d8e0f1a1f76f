"""The range widths (data): written by ``python -m hwprof.core.perf.ranges_fit --write``; do not edit.

(kind, evidence class): (low, high, cases, own_cases, factor), low/high in log(published time /
model's time) at 90% nominal coverage; see ``hwprof.core.perf.ranges`` for the procedure.
"""

WIDTHS: dict[tuple[str, str], tuple[float, float, int, int, float]] = {
    ("train", "own"): (-0.6656, 0.5331, 19, 19, 1),
    ("train", "corrected"): (-1.3312, 1.0662, 26, 6, 2),
    ("train", "borrowed"): (-1.3312, 1.0662, 26, 1, 2),
    ("serve", "own"): (-0.2118, 0.7473, 30, 30, 1),
    ("serve", "corrected"): (-0.3352, 5.7250, 70, 15, 2),
    ("serve", "borrowed"): (-0.0514, 0.9291, 25, 25, 1),
}
