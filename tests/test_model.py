"""The model: shapes over a small grid, padding never matters, phrase embeddings, encoders."""

from __future__ import annotations

import pytest
import torch

from stair.engine.baseline import BlackBoxBaseline
from stair.engine.encoders import QuestionEncoder, VideoEncoder, phrase_vectors
from stair.engine.model import STAIRModel
from stair.engine.network import Network
from stair.testing.batch import fake_batch, fake_vocabularies
from stair.testing.programs import sample_trees
from tests.tiny_synth import one_torch_thread  # noqa: F401

TREES = sample_trees(24, seed=3, cycle=True)


def _pad_garbage(batch, seed=1):
    """The same batch with random values in every padded frame."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(batch.features.shape, generator=gen) * 5
    features = torch.where(batch.frame_mask[..., None], batch.features, noise)
    return type(batch)(**{**batch.__dict__, "features": features})


@pytest.mark.parametrize(
    ("hidden", "frames", "kind"), [(16, 5, "lstm"), (32, 8, "lstm"), (16, 6, "transformer")]
)
def test_shapes_and_padding_is_ignored(hidden, frames, kind):
    torch.manual_seed(0)
    voc = fake_vocabularies(feature_dim=12, max_count=5)
    lengths = [frames, 2, frames - 1, 1, frames, 3][: len(TREES) // 2]
    batch = fake_batch(TREES[:12], voc, num_videos=6, frames=frames, lengths=lengths)
    model = STAIRModel(voc, Network(hidden=hidden, video_encoder=kind)).eval()
    out = model(batch)
    A = len(model.answer_vocabulary)
    assert out.logits.shape == (12, A) and out.valid.shape == (12, A)
    assert out.valid.any(-1).all()
    assert torch.isfinite(out.logits).all()
    frames_of = out.trace.value(0, 0)
    assert len(frames_of) == 1
    again = model(_pad_garbage(batch))
    torch.testing.assert_close(again.logits, out.logits)


def test_video_encoder_zeroes_padding_and_is_causal_free_of_it():
    torch.manual_seed(0)
    for kind in ("lstm", "transformer"):
        enc = VideoEncoder(10, 16, kind).eval()
        feats = torch.randn(3, 7, 10)
        mask = torch.arange(7)[None] < torch.tensor([7, 4, 1])[:, None]
        out = enc(feats, mask)
        assert out.shape == (3, 7, 16)
        assert (out[~mask] == 0).all()
        # a short video encodes the same alone as padded in a batch
        alone = enc(feats[1:2, :4], mask[1:2, :4])
        torch.testing.assert_close(alone[0], out[1, :4], atol=1e-5, rtol=1e-5)


def test_video_encoder_starts_in_the_features_coordinates_when_the_sizes_match():
    torch.manual_seed(0)
    same, other = VideoEncoder(16, 16), VideoEncoder(12, 16)
    assert torch.equal(same.proj[0].weight, torch.eye(16)) and not same.proj[0].bias.any()
    # before the context and the norms, a frame state is the frame itself
    feats = torch.randn(2, 5, 16)
    torch.testing.assert_close(same.proj[0](feats), feats)
    assert other.proj[0].weight.shape == (16, 12)  # a projection of another size stays random


def test_inference_path_of_the_question_encoder_matches_the_lstm():
    """Without gradients the question BiLSTM runs from per-word input gates: same numbers."""
    torch.manual_seed(0)
    enc = QuestionEncoder(50, 16, word_dim=12).eval()
    lengths = [7, 3, 1, 7, 5, 0, 2]
    questions = torch.zeros(len(lengths), 7, dtype=torch.long)
    for row, n in enumerate(lengths):
        questions[row, :n] = torch.randint(1, 50, (n,))
    with torch.enable_grad():
        expected = enc(questions)  # nn.LSTM on packed sequences
    for mode in (torch.no_grad, torch.inference_mode):
        with mode():
            got = enc(questions)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert (got[0][1, 3:] == 0).all()  # padding stays zero
    with torch.no_grad():  # a changed weight is seen: the gate table is rebuilt
        enc.lstm.bias_ih_l0_reverse.add_(0.5)
        enc.embed.weight[3].mul_(2.0)
        changed = enc(questions)
    with torch.enable_grad():
        again = enc(questions)
    torch.testing.assert_close(changed[0], again[0], atol=1e-6, rtol=1e-5)
    assert not torch.allclose(changed[0], got[0])


def test_training_path_of_the_question_encoder_matches_the_lstm_and_its_gradients():
    """In training (no dropout) the table path gives nn.LSTM's states and gradients; with
    dropout each word needs its own mask, so nn.LSTM runs."""
    from stair.engine.encoders import run_lstm

    torch.manual_seed(0)
    enc = QuestionEncoder(40, 16, word_dim=12, dropout=0.0).train()
    lengths = [6, 2, 1, 6, 4, 0]
    words = torch.zeros(len(lengths), 6, dtype=torch.long)
    for row, n in enumerate(lengths):
        words[row, :n] = torch.randint(1, 40, (n,))
    params = list(enc.parameters())

    def loss_and_grads(states, last):
        loss = states.square().sum() + (last * torch.arange(16)).sum()
        return [g if g is not None else torch.zeros_like(p) for g, p in
                zip(torch.autograd.grad(loss, params, allow_unused=True), params)]  # fmt: skip

    got = enc(words)
    expected = run_lstm(enc.lstm, enc.embed(words), (words != 0).sum(-1))
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    grads = loss_and_grads(*got)
    for a, b in zip(grads, loss_and_grads(*expected)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert grads[0][0].abs().sum() == 0 and grads[0][1:].abs().sum() > 0  # padding row: nothing
    dropped = QuestionEncoder(40, 16, word_dim=12, dropout=0.5).train()
    torch.manual_seed(1)
    a = dropped(words)[0]
    torch.manual_seed(1)
    b = run_lstm(dropped.lstm, dropped.dropout(dropped.embed(words)), (words != 0).sum(-1))[0]
    torch.testing.assert_close(a, b)


def test_phrase_vectors_pool_spans_or_encode_the_phrase():
    torch.manual_seed(0)
    enc = QuestionEncoder(20, 8, word_dim=6).eval()
    questions = torch.tensor([[3, 4, 5, 6, 0], [7, 8, 9, 0, 0]])
    states, sentence = enc(questions)
    assert states.shape == (2, 5, 8) and sentence.shape == (2, 8)
    spans = torch.tensor([[1, 3], [-1, -1], [0, 1]])
    words = torch.tensor([[4, 5, 0], [11, 12, 0], [7, 0, 0]])
    tree_of = torch.tensor([0, 0, 1])
    out, sentences = phrase_vectors(enc, questions, tree_of, spans, words)
    torch.testing.assert_close(sentences, sentence)
    torch.testing.assert_close(out[0], states[0, 1:3].mean(0))
    torch.testing.assert_close(out[2], states[1, 0])
    own, _ = enc(words[1:2, :2])
    torch.testing.assert_close(out[1], own[0].mean(0))
    torch.testing.assert_close(phrase_vectors(enc, questions, tree_of, spans, words)[0], out)
    with torch.enable_grad():  # the packed nn.LSTM path agrees with the inference one
        trained, _ = phrase_vectors(enc, questions, tree_of, spans, words)
    torch.testing.assert_close(trained.detach(), out, atol=1e-6, rtol=1e-5)


def test_pretrained_question_encoder_from_a_local_folder(tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    voc = fake_vocabularies(feature_dim=12)
    vocab_file = tmp_path / "vocab.txt"
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = sorted({w for w in voc["words"] if w.isalnum()})
    vocab_file.write_text("\n".join(specials + pieces + ["##s"]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file))
    config = BertConfig(
        vocab_size=len(specials) + len(pieces) + 1, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
    )  # fmt: skip
    torch.manual_seed(0)
    BertModel(config).save_pretrained(tmp_path / "tiny-bert")
    tokenizer.save_pretrained(tmp_path / "tiny-bert")
    network = Network(
        16, question_encoder="pretrained", pretrained_path=str(tmp_path / "tiny-bert")
    )
    model = STAIRModel(voc, network).eval()
    batch = fake_batch(TREES[:6], voc, frames=5)
    out = model(batch)
    assert out.logits.shape == (6, len(model.answer_vocabulary))
    states, _ = model.question_encoder(batch.questions)
    assert states.shape == (*batch.questions.shape, 16)
    assert (states[batch.questions == 0] == model.question_encoder.proj.bias).all()


def test_baseline_shapes_and_padding():
    torch.manual_seed(0)
    voc = fake_vocabularies(feature_dim=12)
    batch = fake_batch(TREES[:8], voc, num_videos=4, frames=6, lengths=[6, 3, 2, 6])
    model = BlackBoxBaseline(voc, Network(hidden=16)).eval()
    out = model(batch)
    assert out.logits.shape == (8, len(model.answer_vocabulary)) and out.trace is None
    assert out.valid.all()
    torch.testing.assert_close(model(_pad_garbage(batch)).logits, out.logits)
