"""The Python entry point: load a trained model and ask it questions about videos.

>>> import stair
>>> qa = stair.load("runs/synth/version_0/checkpoints/last.ckpt", data="datasets/synth")
>>> explanation = qa.ask("v00012", "What did they hold first after opening a door?")
>>> print(explanation.to_text())

``video`` may be a video file (decoded and featurised the way the checkpoint's training features
were made), a ``.npy`` file or array of features ``[T, D]``, or a video id of the dataset folder
given as ``data``. The program comes from ``program`` (AGQA syntax, or a compiled tree), else from
the program generator loaded with ``generator``. When ``data`` holds the video's scene graph, every
step's gold is computed by the symbolic executor and shown next to the model's output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stair.audit.explain import Explanation, explain_batch
from stair.data.datamodule import Vocabularies
from stair.data.qa_dataset import Collate, QAExample
from stair.errors import StairError
from stair.programs import ModuleTree, compile_program, execute, load_scene_graphs
from stair.programs.text import WordVocab, tokenize

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v"}


class AskError(StairError):
    """A question that cannot be asked: no program, no features for the video, a bad file."""


class _OneVideo:
    """The minimal feature store :class:`Collate` reads, for one in-memory video."""

    def __init__(self, video_id: str, features: np.ndarray, timestamps: np.ndarray) -> None:
        self.video_id, self.features, self.timestamps = video_id, features, timestamps

    def get(self, video_id: str) -> tuple[np.ndarray, dict[str, Any]]:
        return self.features, {"timestamps": self.timestamps}


class STAIR:
    """A trained module network, ready to answer and explain (see the module docstring)."""

    def __init__(
        self,
        lit: Any,
        generator: Callable[[str], ModuleTree] | None = None,
        data: str | Path | None = None,
    ) -> None:
        if lit.hparams.get("architecture", "stair") != "stair":
            raise AskError("only the module network explains its answers (not the baseline)")
        self.lit = lit.eval()
        self.model = lit.model
        self.vocabularies = Vocabularies.from_dict(dict(lit.hparams["vocabularies"]))
        self.words = WordVocab(self.vocabularies.words)
        self.generator = generator
        self.data = Path(data) if data is not None else None
        self._graphs: dict | None = None
        self._store = None
        self._extractor = None

    # -- inputs -------------------------------------------------------------------------------
    def program(self, question: str, program: str | ModuleTree | None = None) -> ModuleTree:
        if isinstance(program, ModuleTree):
            return program
        if program is not None:
            return compile_program(program)
        if self.generator is None:
            raise AskError("no program given and no program generator loaded (generator=...)")
        return self.generator(question)

    @property
    def graphs(self) -> dict:
        if self._graphs is None:
            path = self.data / "scene_graphs.json" if self.data else None
            self._graphs = load_scene_graphs(path) if path and path.exists() else {}
        return self._graphs

    def features(self, video: Any) -> tuple[str, np.ndarray, np.ndarray, np.ndarray | None]:
        """``(video id, features [T, D], timestamps [T], decoded frames or None)``."""
        if isinstance(video, (np.ndarray, torch.Tensor)):
            feats = np.asarray(video, dtype=np.float32)
            return "array", feats, np.arange(len(feats), dtype=np.float64), None
        path = Path(str(video))
        if path.suffix == ".npy" and path.exists():
            feats = np.load(path).astype(np.float32)
            return path.stem, feats, np.arange(len(feats), dtype=np.float64), None
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return self._featurise(path)
        if self.data is None:
            raise AskError(
                f"{video!r} is not a video file or .npy, and no dataset (data=) is given"
            )
        if self._store is None:
            from stair.data.video.store import FeatureStore

            self._store = FeatureStore(self.data / "features.h5")
        feats, attrs = self._store.get(str(video))
        stamps = np.asarray(attrs.get("timestamps", np.arange(len(feats))), dtype=np.float64)
        return str(video), feats, stamps, None

    def _featurise(self, path: Path) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
        from stair.data.video.backbone import FeatureExtractor
        from stair.data.video.reader import Sampling, file_id, read_video

        settings = self.vocabularies.extra.get("features", {})
        backbone = settings.get("backbone")
        if backbone in (None, "symbolic"):
            raise AskError(
                f"this checkpoint was trained on {backbone or 'unknown'} features, not on a video "
                f"backbone: give a video id of its dataset or a feature array instead of {path}"
            )
        if not path.exists():
            raise AskError(f"no such video file: {path}")
        size = settings.get("size")
        size = None if size in (None, "None") else int(size) if str(size).isdigit() else size
        sampling = Sampling(num_frames=int(settings.get("frames") or 16), size=size)
        decoded = read_video(path, sampling)
        if self._extractor is None:
            weights = settings.get("weights")
            self._extractor = FeatureExtractor(
                backbone, None if weights in (None, "none") else weights,
                clip_len=int(settings.get("clip_len") or 16),
            )  # fmt: skip
        feats = self._extractor(decoded.frames).numpy()
        return file_id(path), feats, np.asarray(decoded.timestamps), decoded.frames

    # -- asking -------------------------------------------------------------------------------
    def ask(
        self, video: Any, question: str, program: str | ModuleTree | None = None
    ) -> Explanation:
        """Answer ``question`` about ``video`` and explain every step (see the module docstring)."""
        tree = self.program(question, program)
        video_id, feats, stamps, frames = self.features(video)
        if feats.ndim != 2 or feats.shape[1] != self.vocabularies.feature_dim:
            raise AskError(
                f"features of {video_id} have shape {feats.shape}; this model reads "
                f"[T, {self.vocabularies.feature_dim}]"
            )
        golds, answer, times = {}, -1, {}
        graph = self.graphs.get(video_id)
        if graph is not None:
            result = execute(tree, graph)
            golds = result.golds_json()
            index = self.vocabularies.answer_vocabulary().index
            answer = index.get(result.answer, -1) if result.answer is not None else -1
            times = {video_id: [graph.time_of(i) for i in range(graph.num_frames)]}
        example = QAExample("asked", video_id, tree, tuple(tokenize(question)), answer, golds, {})
        collate = Collate(_OneVideo(video_id, feats, stamps), self.words,
                          self.vocabularies.concept_index(), times)  # fmt: skip
        batch = collate([example]).to(self.lit.device)
        with torch.no_grad():
            output = self.model(batch)
        path = str(video) if frames is not None else None
        explanation = explain_batch(self.model, batch, output, [question], [path])[0]
        explanation.qid = None
        explanation.frames = frames
        return explanation


def load(
    checkpoint: str | Path,
    generator: str | Path | Callable[[str], ModuleTree] | None = None,
    data: str | Path | None = None,
    device: str = "cpu",
) -> STAIR:
    """A trained model from its checkpoint (no other file needed), ready to :meth:`~STAIR.ask`."""
    from stair.train.system import LitSTAIR

    path = Path(checkpoint)
    if not path.exists():
        raise AskError(f"no checkpoint at {path}")
    lit = LitSTAIR.load_from_checkpoint(path, map_location=device)
    if isinstance(generator, (str, Path)):
        generator = GeneratedPrograms(generator, device)
    return STAIR(lit, generator, data)


class GeneratedPrograms:
    """Question -> the program generator's best program (greedy, or beam search with
    ``num_beams``), as a module tree."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu", num_beams: int = 1) -> None:
        from stair.generator.system import load_generator

        if not Path(checkpoint).exists():
            raise AskError(f"no program-generator checkpoint at {checkpoint}")
        self.model = load_generator(checkpoint).to(device)
        self.num_beams = num_beams

    def __call__(self, question: str) -> ModuleTree:
        return self.model.generate([question], num_beams=self.num_beams)[0][0].tree


def dump(explanation: Explanation) -> str:
    return json.dumps(explanation.to_json(), indent=2)
