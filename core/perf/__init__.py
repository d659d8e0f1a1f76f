"""The performance models: model shapes, training and serving estimates, search, calibration and
validation against published results. Pure functions over records: no I/O, no CLI words.
"""
