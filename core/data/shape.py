"""One check of a model's shape, whichever way it arrives: counts given on the command line or from
Python, a profile's ``[[workload]]``, a Hugging Face config.json. Each rule says which numbers
disagree and what would fix them; the caller names the numbers in its user's words (``--hidden``,
``hidden``, ``hidden_size``).

Rules (counts as ``records.Workload`` names them):
- ``kv_heads <= heads`` and ``kv_heads`` divides ``heads``: each key/value head serves a whole group
  of query heads (grouped-query attention);
- ``heads <= hidden``, and ``heads`` divides ``hidden`` unless ``head_dim`` is given (each head
  then takes ``hidden / heads`` of the width);
- ``experts_per_token <= experts``, ``active_params <= params``;
- the parameters used per token are at least ``layers x hidden x heads x head_dim``, the attention
  output projections alone (a shape with more weights than the parameters it claims is a typo).
"""

from __future__ import annotations

from typing import Any

from . import checks

FIELDS = ("params", "active_params", "layers", "hidden", "heads", "kv_heads", "head_dim", "experts",
          "experts_per_token")  # fmt: skip


HIGH = {"params": checks.PARAMS.high, "active_params": checks.PARAMS.high, "layers": checks.LAYERS.high,
        "hidden": checks.HIDDEN.high, "heads": checks.HEADS.high, "kv_heads": checks.HEADS.high}  # fmt: skip


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small)})


def _near(n: int, choices: list[int]) -> str:
    """The one or two of ``choices`` nearest ``n``, as 'a or b'."""
    below = [c for c in choices if c < n]
    above = [c for c in choices if c > n]
    return " or ".join(str(c) for c in (below[-1:] + above[:1]))


def _shown(value: float) -> str:
    return f"{value:,.0f}" if value < 1e6 else f"{value:.3g}"


def problems(names: dict[str, str] | None = None, **counts: Any) -> list[tuple[str, str]]:
    """``(field, message)`` for each rule the counts break, ``[]`` when they fit. ``counts`` are
    ``records.Workload``'s (``FIELDS``; ``None`` or absent where not known); ``names`` gives how the
    caller's user writes each field (default: the field's own name)."""

    def name(field: str) -> str:
        return (names or {}).get(field, field)

    def get(field: str) -> Any:
        value, high = counts.get(field), HIGH.get(field, checks.COUNT_HIGH)
        if not (isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= high):
            return None  # unknown, or out of the field's own range (refused there, once)
        return int(value) if float(value).is_integer() else value

    params, active, layers, hidden = get("params"), get("active_params"), get("layers"), get("hidden")
    heads, kv_heads, head_dim = get("heads"), get("kv_heads"), get("head_dim")
    experts, per_token = get("experts"), get("experts_per_token")
    found = []
    if params and active and active > params:
        found.append(("active_params", f"{name('active_params')} {_shown(active)} is more than {name('params')} "
                      f"{_shown(params)}: the parameters used per token are a part of all of them"))  # fmt: skip
    if experts and per_token and per_token > experts:
        found.append(("experts_per_token", f"{name('experts_per_token')} {per_token} is more than the "
                      f"{experts} {name('experts')}: a token is routed to some of the experts"))  # fmt: skip
    if heads and kv_heads and isinstance(heads, int) and isinstance(kv_heads, int):
        if kv_heads > heads:
            found.append(("kv_heads", f"{name('kv_heads')} {kv_heads} is more than {name('heads')} {heads}: "
                          f"key/value heads are shared by groups of attention heads; use at most {heads}"))  # fmt: skip
        elif heads % kv_heads:
            found.append(("kv_heads", f"{name('heads')} {heads} is not a multiple of {name('kv_heads')} {kv_heads}: "
                          "each key/value head serves a whole group of attention heads; use "
                          f"{name('kv_heads')} {_near(kv_heads, _divisors(heads))}"))  # fmt: skip
    if heads and hidden and isinstance(heads, int) and isinstance(hidden, int):
        if heads > hidden:
            found.append(("heads", f"{name('heads')} {heads} is more than {name('hidden')} {hidden}: "
                          f"each head takes a part of the width; use at most {hidden}"))  # fmt: skip
        elif not head_dim and hidden % heads:
            widths = [hidden // heads * heads, (hidden // heads + 1) * heads]
            found.append(("hidden", f"{name('hidden')} {hidden} is not a multiple of {name('heads')} {heads}: "
                          f"each head takes {name('hidden')} / {name('heads')} of the width; use "
                          f"{name('hidden')} {' or '.join(map(str, widths))}, or {name('heads')} "
                          f"{_near(heads, _divisors(hidden))}"))  # fmt: skip
    used = active or params
    width = heads * head_dim if heads and head_dim else hidden
    if used and layers and hidden and width and used < layers * hidden * width:
        field = "active_params" if active else "params"
        found.append((field, f"{name(field)} {_shown(used)} is fewer than the {_shown(layers * hidden * width)} "
                      f"weights {name('layers')} {layers} and {name('hidden')} {hidden} need: the attention output "
                      f"projections alone hold layers x hidden x heads x head_dim ({layers} x {hidden} x {width}); "
                      f"check {name(field)}, {name('layers')} and {name('hidden')}"))  # fmt: skip
    return found
