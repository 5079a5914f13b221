"""The pretrained-LM answerer: option scores over each question's own options, and learning."""

import lightning as L
import torch
from torch.utils.data import DataLoader

from stair.train.answerer import AnswererLit, AnswerExample, collate
from tests.test_pretrained import tiny_bert
from tests.tiny_synth import one_torch_thread  # noqa: F401  (small models: one torch thread)

WORDS = ["yes", "no", "cup", "sofa", "was", "there", "a", "exists"]


def test_scores_cover_each_questions_own_options(tmp_path):
    model = AnswererLit(tiny_bert(tmp_path / "bert", WORDS), hidden=8)
    batch = [AnswerExample("a", "exists cup yes", "was there a cup", ("yes", "no"), 0),
             AnswerExample("b", "", "was there a sofa", ("yes", "no", "cup"), 2)]  # fmt: skip
    scores, answers = model(batch)
    assert scores.shape == (2, 3) and answers.tolist() == [0, 2]
    assert scores[0, 2] == float("-inf") and torch.isfinite(scores[1]).all()
    assert len(model.encoder._cache) == 2 + 3  # two texts, three option names


def test_the_answerer_learns_to_read_the_answer_off_its_prompt(tmp_path):
    """The same question is right with yes or no: only the prompt can tell."""
    path = tiny_bert(tmp_path / "bert", WORDS)
    pairs = [("cup", "yes"), ("sofa", "no"), ("cup", "no"), ("sofa", "yes")] * 2
    rows = [AnswerExample(str(i), f"exists {w} {a}", f"was there a {w}", ("yes", "no"),
                          int(a == "no")) for i, (w, a) in enumerate(pairs)]  # fmt: skip
    L.seed_everything(0)
    model = AnswererLit(path, hidden=16, lr=3e-2)
    trainer = L.Trainer(max_epochs=60, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(model, DataLoader(rows, batch_size=8, collate_fn=collate))
    right = torch.cat(trainer.predict(model, DataLoader(rows, batch_size=8, collate_fn=collate)))
    assert right.all()
