"""The concept bank: embeddings of the concept vocabulary (objects, relations, actions).

:class:`ConceptBank` learns them from scratch; :class:`PretrainedConceptBank` reads them off a
pretrained text encoder: the names' pretrained vectors are a fixed buffer (computed once per
vocabulary) and only a projection to the modules' size is learned, so a word the training data
never used ("mug") still lands near its synonym ("cup").
"""

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
        self._name(names)
        weight = torch.randn(len(names), dim) * dim**-0.5 if init is None else init.clone()
        if weight.shape != (len(names), dim):
            raise ValueError(f"init has shape {tuple(weight.shape)}, want {(len(names), dim)}")
        self.embeddings = nn.Parameter(weight)
        self._categorise(categories, temperature)

    def _name(self, names: Sequence[str]) -> None:
        if len(set(names)) != len(names):
            raise ValueError("concept names must be unique")
        self.names = list(names)
        self.index = {name: i for i, name in enumerate(self.names)}

    def _categorise(
        self, categories: Mapping[str, Category | str] | None, temperature: float
    ) -> None:
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


class PretrainedConceptBank(ConceptBank):
    """A concept bank whose embeddings are a learned projection of fixed pretrained vectors.

    ``pretrained [V, E]``: each name's vector from a pretrained text encoder (e.g.
    :meth:`~stair.engine.pretrained.PretrainedQuestionEncoder.embed_texts`), kept as a buffer;
    :attr:`embeddings` is ``proj(pretrained)``, ``[V, dim]``.
    """

    def __init__(
        self,
        names: Sequence[str],
        pretrained: Tensor,
        dim: int,
        categories: Mapping[str, Category | str] | None = None,
        temperature: float = 0.1,
    ) -> None:
        nn.Module.__init__(self)
        self._name(names)
        if pretrained.shape[0] != len(names):
            raise ValueError(f"pretrained has {pretrained.shape[0]} rows, want {len(names)}")
        self.register_buffer("pretrained", pretrained.detach().clone())
        self.proj = nn.Linear(pretrained.shape[1], dim)
        self._categorise(categories, temperature)

    @property
    def embeddings(self) -> Tensor:  # type: ignore[override]
        """The projected pretrained vectors, ``[V, dim]``."""
        return self.proj(self.pretrained)
