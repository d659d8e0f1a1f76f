"""Serving options that change the work per token: speculative decoding (a draft proposes tokens, one
step of the model verifies them) and prefix caching (part of each prompt is already in the cache).

Formulas (tests check each by hand):
- Speculative decoding with ``k`` draft tokens and ``a`` tokens accepted per step (the verified
  token included, 1 <= a <= k + 1): a step verifies ``k + 1`` tokens per sequence, so the matmul and
  attention FLOPs and the collectives' bytes grow ``k + 1`` times, the weights and the KV cache are
  still read once, and a mixture of experts touches the experts of ``k + 1`` tokens. Each draft token
  costs ``draft`` of a step (default ``1 / layers``: one more layer, as multi-token prediction heads
  are; aiconfigurator counts MTP the same way). One step emits ``a`` tokens, so the time per output
  token is ``step x (1 + k x draft) / a``.
- Prefix caching with a cached share ``c``: only ``(1 - c) x prompt`` tokens are prefilled, each
  attending to the whole prompt before it (mean context ``(1 + c) x prompt / 2``); the KV cache of a
  running sequence still holds the whole prompt, and a disaggregated hand-off still moves all of it.
"""

from __future__ import annotations

from typing import Any

import attrs

from ...data import records
from ...errors import HwprofError
from ..arith import SCALAR
from . import layout as sl
from . import shape as serve_shape


@attrs.frozen
class ServeOptions:
    draft_tokens: int = 0  # tokens a draft proposes per step; 0: no speculative decoding
    accepted_per_step: float = 1.0  # tokens one step emits on average, the verified one included
    draft_cost: float | None = None  # one draft token's cost, as a share of a decode step; None: 1 / layers
    cached_share: float = 0.0  # share of each prompt found in the prefix cache

    @property
    def speculative(self) -> bool:
        return self.draft_tokens > 0

    def check(self) -> None:
        """Refuse options that cannot hold, naming the option and its range."""
        if self.draft_tokens < 0:
            raise HwprofError(f"draft tokens must be 0 or more, got {self.draft_tokens}")
        top = self.draft_tokens + 1
        if not 1 <= self.accepted_per_step <= top:
            raise HwprofError(f"accepted tokens per step must be between 1 and draft tokens + 1 = {top}, got "
                              f"{self.accepted_per_step:g}")  # fmt: skip
        if self.draft_cost is not None and not 0 <= self.draft_cost < 1:
            raise HwprofError(
                f"a draft token's cost is a share of a decode step, 0 to below 1; got {self.draft_cost:g}"
            )
        if not 0 <= self.cached_share < 1:
            raise HwprofError(
                f"the cached prefix share is 0 to below 1 (a share of the prompt), got {self.cached_share:g}"
            )

    def draft_share(self, shape: records.Workload) -> float:
        return self.draft_cost if self.draft_cost is not None else 1 / max(shape.layers or 1, 1)

    def step(self, s: sl.Step, shape: records.Workload) -> sl.Step:
        """A decode step per output token under speculative decoding (unchanged without it)."""
        if not self.speculative:
            return s
        q = self.draft_tokens + 1
        per_token = (1 + self.draft_tokens * self.draft_share(shape)) / self.accepted_per_step
        return attrs.evolve(s, weights_s=s.weights_s * per_token, expert_miss=s.expert_miss**q,
                            kv_s=s.kv_s * per_token, compute_s=s.compute_s * q * per_token,
                            comm_fixed_s=s.comm_fixed_s * per_token, comm_s=s.comm_s * q * per_token,
                            attention_s=s.attention_s * q * per_token, floor_s=s.floor_s * per_token,
                            expert_extra_s=s.expert_extra_s * q * per_token)  # fmt: skip

    def new_tokens(self, input_tokens: Any) -> Any:
        """Tokens of a prompt that are prefilled (all of them without a prefix cache)."""
        return input_tokens * (1 - self.cached_share) if self.cached_share else input_tokens

    def prompt(self, shape: records.Workload, input_tokens: Any, buckets: tuple[int, ...] = (), xp: Any = SCALAR
               ) -> tuple[Any, Any, Any]:  # fmt: skip
        """(tokens prefilled, their FLOPs, their attention side's FLOPs) of one prompt; a stack with
        compiled prompt lengths (``buckets``) pads the tokens it prefills up to the next one."""
        c = self.cached_share
        new = sl.padded(self.new_tokens(input_tokens), buckets, xp)
        mean_context = input_tokens * c + new / 2
        flops = new * shape.forward_flops_per_token(mean_context)
        if c == 0:
            return new, flops, serve_shape.prompt_attention_flops(shape, new)
        scores = shape.forward_flops_per_token(mean_context) - 2 * shape.active
        return new, flops, new * (2 * serve_shape.attention_params(shape) + scores)

    def notes(self, shape: records.Workload) -> tuple[str, ...]:
        out = []
        if self.speculative:
            out.append(f"speculative decoding: {self.draft_tokens} draft token{'s' if self.draft_tokens > 1 else ''} "
                       f"per step, {self.accepted_per_step:g} accepted per step; a step verifies "
                       f"{self.draft_tokens + 1} tokens per sequence (weights and KV cache read once) and each "
                       f"draft token costs {self.draft_share(shape):.1%} of a step")  # fmt: skip
        if self.cached_share:
            out.append(f"prefix caching: {self.cached_share:.0%} of each prompt is already cached and not "
                       "prefilled (the rest attends to it); the KV cache still holds whole prompts")  # fmt: skip
        return tuple(out)


NONE = ServeOptions()
