"""The concept bank: learned embeddings of the concept vocabulary (objects, relations, actions)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from stair.values import Category, ConceptSpace


class ConceptBank(nn.Module):
    """Embeddings ``[V, D]`` of every concept name, its category, and the InfoNCE temperature.

    The bank is what ``Concept`` values are scored against: their intermediate loss (multi-
    positive InfoNCE with the learnable :attr:`temperature`), the audit's nearest concepts, the
    typed answer head's concept answers and ``Superlative``'s "every action" candidates
    (:meth:`actions`). ``init`` gives starting embeddings (e.g. from a text encoder); otherwise
    they are random with unit expected norm.
    """

    def __init__(
        self,
        names: Sequence[str],
        dim: int,
        categories: Mapping[str, Category | str] | None = None,
        temperature: float = 0.1,
        init: Tensor | None = None,
    ) -> None:
        super().__init__()
        if len(set(names)) != len(names):
            raise ValueError("concept names must be unique")
        self.names = list(names)
        self.index = {name: i for i, name in enumerate(self.names)}
        weight = torch.randn(len(names), dim) * dim**-0.5 if init is None else init.clone()
        if weight.shape != (len(names), dim):
            raise ValueError(f"init has shape {tuple(weight.shape)}, want {(len(names), dim)}")
        self.embeddings = nn.Parameter(weight)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))
        cats = {k: Category.parse(str(v)) for k, v in (categories or {}).items()}
        self.categories = {name: cats.get(name) for name in self.names}
        action_rows = [i for i, n in enumerate(self.names) if cats.get(n) is Category.ACTIONS]
        if not cats:  # no categories given: every concept may be an action
            action_rows = list(range(len(self.names)))
        self.register_buffer("action_rows", torch.tensor(action_rows, dtype=torch.long))

    @property
    def temperature(self) -> Tensor:
        return self.log_temperature.exp()

    def __len__(self) -> int:
        return len(self.names)

    def actions(self) -> Tensor:
        """The embeddings of the action concepts, ``[A, D]``."""
        return self.embeddings.index_select(0, self.action_rows)

    def rows(self, names: Sequence[str]) -> Tensor:
        """The row index of each name (a KeyError names an unknown concept)."""
        return torch.tensor([self.index[n] for n in names], device=self.embeddings.device)

    def space(self) -> ConceptSpace:
        """Names and (detached) embeddings, for rendering concepts in an audit."""
        return ConceptSpace(self.names, self.embeddings.detach())
