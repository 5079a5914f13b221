"""The generator's word-level tokenizer: question words, copy markers and program tokens.

One ``tokenizers.Tokenizer`` (a ``WordLevel`` model) holds both sides of the seq2seq model, so
encoder and decoder share one embedding table. Its normaliser and pre-tokeniser split text exactly
like :func:`stair.programs.text.tokenize` (lower case, ``_`` as a space, words
``[a-z0-9]+('[a-z]+)?``,
punctuation dropped). Ids ``0, 1, 2`` are ``<pad>``, ``</s>``, ``<unk>`` (T5's convention; the
pad token also starts the decoder). Then come the copy markers ``<q0>..<q{max_words-1}>``, the
structural program tokens, every module label of :data:`~stair.programs.SIGNATURES`, the concept
words and the training questions' words.

The source of a question is its word ids then ``</s>``; the model adds to word ``i``'s embedding
the embedding of marker ``<qi>`` (the same vector the decoder emits to copy it), so a word the
tokenizer has never seen is ``<unk>`` but keeps its marker and can be copied. The target is
:func:`~stair.generator.target.to_target`'s tokens then ``</s>``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

from stair.files import write_text
from stair.generator.target import PhraseInventory, marker, marker_index
from stair.programs.serialize import CLOSE, NONE, OPEN, QUOTE, VIDEO_TOKEN
from stair.programs.signatures import SIGNATURES, Signature
from stair.programs.text import tokenize

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
_WORD = r"[a-z0-9]+(?:'[a-z]+)?"  # the word pattern of stair.programs.text.tokenize


def module_labels(signatures: Mapping[str, Signature] = SIGNATURES) -> list[str]:
    """Every module token: ``Module`` or ``Module[switch]`` for each switch value, in module-name
    order (token ids never depend on the order in which operations are declared)."""
    labels = []
    for module, sig in sorted(signatures.items()):
        if sig.switch is None:
            labels.append(module)
        else:
            labels.extend(f"{module}[{s.value}]" for s in sig.switch)
    return labels


def _word_level(vocab: dict[str, int]) -> Tokenizer:
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Lowercase(), normalizers.Replace("_", " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(_WORD), behavior="removed", invert=True)
    return tokenizer


class GeneratorTokenizer:
    """Encodes questions (source) and generator targets; wraps a ``tokenizers.Tokenizer``.

    ``max_words`` (the number of copy markers in the vocabulary): question words the model sees
    and can copy; longer questions are cut.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.vocab: dict[str, int] = tokenizer.get_vocab()
        self.max_words = sum(1 for t in self.vocab if marker_index(t) is not None)
        self.pad_id, self.eos_id, self.unk_id = (self.vocab[t] for t in (PAD, EOS, UNK))
        self._tokens = {i: t for t, i in self.vocab.items()}

    @classmethod
    def build(
        cls,
        questions: Iterable[str],
        inventory: PhraseInventory,
        max_words: int = 64,
        min_count: int = 1,
        signatures: Mapping[str, Signature] = SIGNATURES,
    ) -> GeneratorTokenizer:
        """A tokenizer for these training questions (words seen ``min_count`` times or more)."""
        counts = Counter(w for q in questions for w in tokenize(q))
        kept = (w for w, c in counts.items() if c >= min_count)
        words = sorted(kept, key=lambda w: (-counts[w], w))
        fixed = [PAD, EOS, UNK, *(marker(i) for i in range(max_words))]
        program = [QUOTE, NONE, OPEN, CLOSE, VIDEO_TOKEN, *module_labels(signatures)]
        ordered = dict.fromkeys([*fixed, *program, *inventory.words(), *words])
        return cls(_word_level({t: i for i, t in enumerate(ordered)}))

    def __len__(self) -> int:
        return len(self.vocab)

    def words(self, question: str) -> list[str]:
        """The question's words the model sees (``tokenize``, cut at ``max_words``)."""
        return tokenize(question)[: self.max_words]

    def encode_source(self, words: Sequence[str]) -> list[int]:
        """``w0 w1 ... </s>`` as ids (unknown words are ``<unk>``); the model adds the marker
        embedding of ``<qi>`` to word ``i`` (:meth:`marker_ids`)."""
        ids = self.tokenizer.encode(list(words), is_pretokenized=True).ids if words else []
        if len(ids) != len(words):
            raise ValueError(f"the tokenizer split {list(words)} into {len(ids)} pieces")
        return [*ids, self.eos_id]

    @property
    def first_marker(self) -> int:
        """Id of ``<q0>``; ``<qi>`` is ``first_marker + i``."""
        return self.vocab[marker(0)]

    def encode_target(self, tokens: Sequence[str]) -> list[int]:
        """Target tokens then ``</s>`` as ids; every token must be in the vocabulary."""
        missing = [t for t in tokens if t not in self.vocab]
        if missing:
            raise KeyError(f"target tokens outside the generator vocabulary: {missing}")
        return [*(self.vocab[t] for t in tokens), self.eos_id]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``, stopping at ``</s>`` and skipping ``<pad>``."""
        out = []
        for i in ids:
            if i == self.eos_id:
                break
            if i != self.pad_id:
                out.append(self._tokens[i])
        return out

    def to_str(self) -> str:
        """The tokenizer as JSON text (saved inside checkpoints)."""
        return self.tokenizer.to_str()

    @classmethod
    def from_str(cls, text: str) -> GeneratorTokenizer:
        return cls(Tokenizer.from_str(text))

    def save(self, path: str) -> None:
        """Write the tokenizer's JSON to ``path``, atomically."""
        write_text(path, self.tokenizer.to_str(pretty=True))

    @classmethod
    def load(cls, path: str) -> GeneratorTokenizer:
        return cls(Tokenizer.from_file(path))
