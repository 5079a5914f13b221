"""Soft logic on yes/no facts (And, Or, Xor, Not, Compare) and on frames (AndFrame, XorFrame).

The Bool modules treat their inputs as independent events and compute the exact probability of
the combination in log space (``logsigmoid``), so logits stay finite and gradients do not vanish
at confident inputs. All are parameter-free.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stair.modules.registry import register
from stair.values import Bool, Frames


def _logit(log_yes: Tensor, log_no: Tensor) -> Bool:
    return Bool(log_yes - log_no)


@register
class And(nn.Module):
    """Both facts hold: ``p = p_1 p_2``. Appears in "did they X and Y" questions, at the root."""

    def forward(self, first: Bool, second: Bool) -> Bool:
        a, b = first.logit, second.logit
        return _logit(
            F.logsigmoid(a) + F.logsigmoid(b),
            torch.logaddexp(F.logsigmoid(-a), F.logsigmoid(a) + F.logsigmoid(-b)),
        )


@register
class Or(nn.Module):
    """At least one fact holds: ``1 - (1-p_1)(1-p_2)``. Appears in "X or Y" questions."""

    def forward(self, first: Bool, second: Bool) -> Bool:
        a, b = first.logit, second.logit
        return _logit(
            torch.logaddexp(F.logsigmoid(a), F.logsigmoid(-a) + F.logsigmoid(b)),
            F.logsigmoid(-a) + F.logsigmoid(-b),
        )


@register
class Xor(nn.Module):
    """Exactly one fact holds. Appears in "X or Y but not both" (AGQA's XOR) questions."""

    def forward(self, first: Bool, second: Bool) -> Bool:
        a, b = first.logit, second.logit
        la, lna, lb, lnb = F.logsigmoid(a), F.logsigmoid(-a), F.logsigmoid(b), F.logsigmoid(-b)
        return _logit(torch.logaddexp(la + lnb, lna + lb), torch.logaddexp(la + lb, lna + lnb))


@register
class Not(nn.Module):
    """The fact does not hold: the logit negated. Appears in negated questions."""

    def forward(self, value: Bool) -> Bool:
        return Bool(-value.logit)


@register
class Compare(nn.Module):
    """Before or after? Yes (= before) iff the "before" fact holds rather than the "after" one.

    Given that exactly one of the two holds, ``P(before) = p_b (1-p_a) / (p_b (1-p_a) +
    p_a (1-p_b))``, whose logit is ``logit_b - logit_a``. Appears in AGQA's sequencing questions
    ("did they X before or after Y?"), at the root; the answer head reads yes as "before".
    """

    def forward(self, before: Bool, after: Bool) -> Bool:
        return Bool(before.logit - after.logit)


@register
class AndFrame(nn.Module):
    """Frame-wise and: ``p_1t p_2t``. Appears in per-frame conditions of first/last questions."""

    def forward(self, first: Frames, second: Frames) -> Frames:
        return Frames(first.masked * second.masked, first.mask)


@register
class XorFrame(nn.Module):
    """Frame-wise xor: ``p_1 + p_2 - 2 p_1 p_2``. Appears in per-frame first/last conditions."""

    def forward(self, first: Frames, second: Frames) -> Frames:
        a, b = first.masked, second.masked
        return Frames(a + b - 2 * a * b, first.mask)
