"""Grammar-constrained decoding loops: greedy, sampling and beam search with n-best lists.

The generator's decoder reads, with each previous token, the grammar context of the token it is
about to write (which slot of which module it fills: :meth:`ProgramGrammar.context`), so the loop
is run here, step by step over the model's encoder and KV-cached decoder, rather than by
``generate()``, which feeds token ids only. At every step the :class:`GrammarConstraint` logits
processor turns the logits into log-probabilities over the tokens the grammar allows, so every
finished sequence is a complete, well-typed program within ``max_new_tokens``.

A hypothesis's score is the sum of these constrained log-probabilities (no length penalty): the
log-probability of the program under the grammar-constrained model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput

from stair.generator.constraint import GrammarConstraint


@dataclass(frozen=True)
class Hypothesis:
    """A decoded target: token ids (without start token and EOS) and their log-probability."""

    ids: list[int]
    score: float


class _Stepper:
    """Runs the decoder one token at a time for ``rows`` sequences over a fixed encoding."""

    def __init__(self, generator, states: torch.Tensor, mask: torch.Tensor, qlens: list[int],
                 max_new_tokens: int) -> None:  # fmt: skip
        self.generator, self.states, self.mask = generator, states, mask
        self.qlens = qlens
        self.constraint = GrammarConstraint(generator.grammar, qlens, max_new_tokens)
        self.cache = EncoderDecoderCache(DynamicCache(), DynamicCache())

    def log_probs(self, seqs: torch.Tensor) -> torch.Tensor:
        """Constrained log-probabilities ``(R, V)`` of the token after each row of ``seqs``."""
        grammar, per = self.generator.grammar, seqs.shape[0] // len(self.qlens)
        contexts = [
            grammar.context(self.constraint.state(self.qlens[r // per], tuple(row)))
            for r, row in enumerate(seqs[:, 1:].tolist())
        ]
        context = torch.tensor(contexts, device=seqs.device)[:, None, :]  # (R, 1, 4)
        embeds = self.generator.decoder_embed(seqs[:, -1:], context)
        out = self.generator.model(
            encoder_outputs=BaseModelOutput(last_hidden_state=self.states),
            attention_mask=self.mask, decoder_inputs_embeds=embeds, cache=self.cache,
            use_cache=True,
        )  # fmt: skip
        return self.constraint(seqs, out.logits[:, -1].float())

    def reorder(self, index: torch.Tensor) -> None:
        self.cache.reorder_cache(index)


def _encode(generator, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    encoder = generator.model.get_encoder()
    return encoder(inputs_embeds=generator.embed(input_ids), attention_mask=mask).last_hidden_state


@torch.no_grad()
def decode(
    generator,
    input_ids: torch.Tensor,
    mask: torch.Tensor,
    qlens: list[int],
    max_new_tokens: int,
    num_beams: int = 1,
    n_best: int = 1,
    sample: bool = False,
    seed: int = 0,
) -> list[list[Hypothesis]]:
    """The best (or sampled) targets of each question of the batch, best first."""
    states = _encode(generator, input_ids, mask)
    if num_beams > 1 and not sample:
        return _beam(generator, states, mask, qlens, max_new_tokens, num_beams,
                     min(n_best, num_beams))  # fmt: skip
    rng = torch.Generator().manual_seed(seed) if sample else None
    k = n_best if sample else 1
    rows = [q for q in qlens for _ in range(k)]
    stepper = _Stepper(generator, states.repeat_interleave(k, 0), mask.repeat_interleave(k, 0),
                       rows, max_new_tokens)  # fmt: skip
    tok = generator.tokenizer
    seqs = torch.full((len(rows), 1), tok.pad_id, dtype=torch.long, device=states.device)
    scores = torch.zeros(len(rows), device=states.device)
    done = torch.zeros(len(rows), dtype=torch.bool, device=states.device)
    for _ in range(max_new_tokens):
        logp = stepper.log_probs(seqs)
        if rng is not None:
            nxt = torch.multinomial(logp.exp().cpu(), 1, generator=rng).squeeze(1).to(seqs.device)
        else:
            nxt = logp.argmax(-1)
        nxt = nxt.masked_fill(done, tok.pad_id)
        scores += logp.gather(1, nxt[:, None]).squeeze(1).masked_fill(done, 0.0)
        seqs = torch.cat([seqs, nxt[:, None]], dim=1)
        done |= nxt == tok.eos_id
        if done.all():
            break
    out = [Hypothesis(_strip(row, tok.eos_id), s) for row, s in
           zip(seqs[:, 1:].tolist(), scores.tolist())]  # fmt: skip
    grouped = [out[i * k : (i + 1) * k] for i in range(len(qlens))]
    return [sorted(g, key=lambda h: -h.score) for g in grouped]


def _strip(ids: list[int], eos: int) -> list[int]:
    return ids[: ids.index(eos)] if eos in ids else ids


def _beam(generator, states, mask, qlens, max_new_tokens: int, beams: int, n_best: int):
    """Beam search; returns each question's ``n_best`` finished hypotheses, best first."""
    batch, tok, device = len(qlens), generator.tokenizer, states.device
    rows = [q for q in qlens for _ in range(beams)]
    stepper = _Stepper(generator, states.repeat_interleave(beams, 0),
                       mask.repeat_interleave(beams, 0), rows, max_new_tokens)  # fmt: skip
    seqs = torch.full((len(rows), 1), tok.pad_id, dtype=torch.long, device=device)
    beam_scores = torch.full((batch, beams), float("-inf"), device=device)
    beam_scores[:, 0] = 0.0  # the first step expands one beam only
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    closed = [False] * batch
    for _ in range(max_new_tokens):
        logp = stepper.log_probs(seqs)  # (R, V)
        vocab = logp.shape[1]
        total = (beam_scores.view(-1, 1) + logp).view(batch, beams * vocab)
        top_scores, top_index = total.topk(2 * beams, dim=1)
        parents, tokens, scores = [], [], []
        for b, (cand_scores, cand_index) in enumerate(zip(top_scores.tolist(),
                                                          top_index.tolist())):  # fmt: skip
            live: list[tuple[int, int, float]] = []
            for score, index in zip(cand_scores, cand_index):
                if closed[b] or score == float("-inf") or len(live) == beams:
                    break
                row, token = b * beams + index // vocab, index % vocab
                if token == tok.eos_id:
                    finished[b].append(Hypothesis(seqs[row, 1:].tolist(), score))
                else:
                    live.append((row, token, score))
            finished[b].sort(key=lambda h: -h.score)
            best_live = live[0][2] if live else float("-inf")
            if len(finished[b]) >= n_best and finished[b][n_best - 1].score >= best_live:
                closed[b] = True  # scores only fall: no live beam can still enter the n-best
            if closed[b] or not live:
                closed[b] = True
                live = []
            live += [(b * beams, tok.pad_id, float("-inf"))] * (beams - len(live))
            for row, token, score in live:
                parents.append(row)
                tokens.append(token)
                scores.append(score)
        if all(closed):
            break
        index = torch.tensor(parents, device=device)
        stepper.reorder(index)
        seqs = torch.cat([seqs[index], torch.tensor(tokens, device=device)[:, None]], dim=1)
        beam_scores = torch.tensor(scores, device=device).view(batch, beams)
    return [f[:n_best] for f in finished]
