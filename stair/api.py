"""The Python entry point: load a trained model and ask it questions about videos.

>>> import stair
>>> qa = stair.load("runs/synth/version_0/checkpoints/last.ckpt", data="datasets/synth")
>>> explanation = qa.ask("v00012", "What did they hold first after opening a door?")
>>> print(explanation.to_text())

``video`` may be a video file (decoded and featurised the way the checkpoint's training features
were made), a ``.npy`` file or array of features ``[T, D]``, or a video id of the dataset folder
given as ``data``. The program comes from ``program`` (AGQA syntax, or a compiled tree), else from
the program generator loaded with ``generator``. When ``data`` holds the video's scene graph, every
step's gold is computed by the symbolic executor and shown next to the model's output. A
question of that dataset (the same video and words) is judged against the dataset's gold answer
and its program against the dataset's; otherwise the gold answer and the step golds are those of
the program run, and the explanation says so (they are right only if the program is).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stair.audit.explain import Explanation, explain_batch
from stair.data.datamodule import Vocabularies
from stair.data.dataset import QuestionRecord, iter_questions
from stair.data.qa_dataset import Collate, QAExample
from stair.errors import StairError
from stair.programs import (
    ModuleTree,
    SymbolicError,
    compile_program,
    evaluate,
    load_scene_graphs,
)
from stair.programs.text import WordVocabulary, tokenize

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v"}


log = logging.getLogger(__name__)


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
        self.words = WordVocabulary(self.vocabularies.words)
        self.generator = generator
        self.data = Path(data) if data is not None else None
        self._graphs: dict | None = None
        self._questions: dict[tuple[str, tuple[str, ...]], QuestionRecord] | None = None
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
        if path.suffix == ".npy":
            feats = _read_npy(path)
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
        return str(video), feats, stamps, self._dataset_frames(str(video), len(feats))

    def _dataset_video(self, video_id: str) -> Path | None:
        """The dataset's own file of ``video_id`` (``videos/<id>.mp4``), if it has one."""
        path = self.data / "videos" / f"{video_id}.mp4" if self.data is not None else None
        return path if path is not None and path.is_file() else None

    def _dataset_frames(self, video_id: str, count: int) -> np.ndarray | None:
        """The dataset's video of ``video_id`` decoded at its ``count`` feature frames, for the
        page's thumbnails; None when the folder has no such file or it does not decode."""
        from stair.data.video.reader import Sampling, read_video
        from stair.data.video.sampling import VideoDecodeError

        path = self._dataset_video(video_id)
        if path is None:
            return None
        try:
            return read_video(path, Sampling(num_frames=count, size=128)).frames
        except VideoDecodeError as err:
            log.warning("no thumbnails for %s: %s", video_id, err)
            return None

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

    def dataset_question(self, video_id: str, question: str) -> QuestionRecord | None:
        """The dataset's record of ``question`` about ``video_id`` (the same words, case and
        punctuation aside), if the dataset given as ``data`` has one."""
        if self._questions is None:
            folder = self.data / "questions" if self.data else None
            paths = sorted(folder.glob("*.jsonl")) if folder and folder.is_dir() else []
            self._questions = {
                (r.video_id, tuple(tokenize(r.question))): r
                for path in reversed(paths) for r in iter_questions(path)
            }  # fmt: skip
        return self._questions.get((video_id, tuple(tokenize(question))))

    # -- asking -------------------------------------------------------------------------------
    def _answers(
        self, asked: QuestionRecord | None, options: Sequence[str] | None
    ) -> tuple[dict[str, int], tuple[str, ...]]:
        """Answer word -> index, and the candidates of a multiple-choice model: ``options``,
        else the dataset question's own."""
        if self.vocabularies.answer_mode != "multiple_choice":
            return self.vocabularies.answer_vocabulary().index, ()
        chosen = tuple(options or (asked.metadata.options if asked is not None else ()))
        if not chosen:
            raise AskError("this model answers multiple choice: give the options (options=, "
                           "--options) or ask a question of its dataset")  # fmt: skip
        return {o: i for i, o in enumerate(chosen)}, chosen

    def ask(
        self,
        video: Any,
        question: str,
        program: str | ModuleTree | None = None,
        options: Sequence[str] | None = None,
    ) -> Explanation:
        """Answer ``question`` about ``video`` and explain every step (see the module docstring).

        ``options``: the candidate answers, for a multiple-choice model (default: those of the
        dataset's question)."""
        if not question.strip():
            raise AskError("the question is empty: ask something about the video")
        source = "generated" if program is None else "given"
        tree = self.program(question, program)
        video_id, feats, stamps, frames = self.features(video)
        if feats.ndim != 2 or feats.shape[1] != self.vocabularies.feature_dim:
            raise AskError(
                f"features of {video_id} have shape {feats.shape}; this model reads "
                f"[T, {self.vocabularies.feature_dim}]"
            )
        golds, answer, times = {}, -1, {}
        asked = self.dataset_question(video_id, question)
        index, options = self._answers(asked, options)
        graph = self.graphs.get(video_id)
        if graph is not None:
            times = {video_id: [graph.time_of(i) for i in range(graph.num_frames)]}
            try:
                result = evaluate(tree, graph)
            except SymbolicError as err:  # e.g. a generated program the scene graph cannot run
                log.warning("no step golds: the program does not run on the scene graph of %s "
                            "(%s)", video_id, str(err).splitlines()[0][-200:])  # fmt: skip
            else:
                golds = result.golds_json()
                answer = index.get(result.answer, -1) if result.answer is not None else -1
        # a question of the dataset is judged by its own gold answer and program
        answer_from = f"{source} program"
        if asked is not None:
            answer, answer_from = index.get(asked.answer, -1), "dataset"
        gold_tree = compile_program(asked.program) if asked is not None else None
        example = QAExample("asked", video_id, tree, tuple(tokenize(question)), answer, golds, {},
                            options)  # fmt: skip
        collate = Collate(_OneVideo(video_id, feats, stamps), self.words,
                          self.vocabularies.concept_index(), times)  # fmt: skip
        batch = collate([example]).to(self.lit.device)
        with torch.no_grad():
            output = self.model(batch)
        path = None
        if frames is not None:
            own = self._dataset_video(video_id) if Path(str(video)).suffix == "" else None
            path = str(own or video)
        explanation = explain_batch(self.model, batch, output, [question], [path], [gold_tree],
                                    source, answer_from)[0]  # fmt: skip
        explanation.qid = asked.qid if asked is not None else None
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


def _read_npy(path: Path) -> np.ndarray:
    """A ``.npy`` file of numeric features (no pickled objects are ever loaded)."""
    if not path.is_file():
        raise AskError(f"no such features file: {path}")
    try:
        return np.load(path, allow_pickle=False).astype(np.float32)
    except (OSError, ValueError, TypeError) as err:
        raise AskError(f"{path} is not a .npy array of numeric features ({err})") from None


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
