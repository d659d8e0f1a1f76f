"""The range widths (data): written by ``python -m hwprof.perf.fit.ranges_fit --write``; do not edit.

(kind, evidence class): (low, high, cases, own_cases, factor), low/high in log(published time /
model's time) at 90% nominal coverage; see ``hwprof.perf.ranges`` for the procedure.
"""

WIDTHS: dict[tuple[str, str], tuple[float, float, int, int, float]] = {
    ("train", "own"): (-0.3045, 0.4806, 22, 22, 1),
    ("train", "corrected"): (-0.3425, 0.3790, 51, 0, 1),
    ("train", "borrowed"): (-0.3601, 0.2164, 29, 29, 1),
    ("train", "other"): (-0.5972, 0.6531, 51, 5, 2),
    ("serve", "own"): (-0.1615, 0.7475, 60, 60, 1),
    ("serve", "corrected"): (-0.2548, 0.9466, 65, 5, 1),
    ("serve", "borrowed"): (-0.4577, 1.4240, 65, 0, 2),
    ("serve", "other"): (-0.3995, 2.1958, 51, 51, 1),
    ("search", "own"): (-0.1818, 0.6919, 22, 22, 1),
    ("search", "corrected"): (-0.1328, 0.5448, 51, 0, 1),
    ("search", "borrowed"): (-0.1285, 0.4976, 29, 29, 1),
    ("search", "other"): (-0.2500, 0.8955, 51, 5, 2),
}
