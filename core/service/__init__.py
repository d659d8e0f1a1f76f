"""The service layer: what the command line and the Python API both call, between them and the models.

It turns what a user names (a model preset or config, a system or chip and a count, a cost model and
purchase options) into records, runs the models in ``hwprof.perf`` and returns typed results, with
the warnings and notes of the run collected on the session (``session.py``). It never prints and
never parses flags: the CLI (``hwprof.cli``) parses, calls and renders; the API (``hwprof``) calls.

    session.py   one invocation's registry, warnings and notes
    workload.py  the model: a preset, a config.json or counts
    hardware.py  the target: a system and a count, or a chip and a number of chips
    costs.py     which cost models price a system, and the quote each gives
    stacks.py    the software stacks known, each chip's default, the evidence an estimate rests on
    estimate.py  one workload on one target (training, serving)
    compare.py   one workload on several systems, ratios to a baseline
    plan.py      systems x counts x layouts x prices: the candidates, built once
"""
