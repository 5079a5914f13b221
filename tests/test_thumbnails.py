"""Frame thumbnails on a question's page come from the dataset's own videos when it has them."""

from __future__ import annotations

import pytest

import stair
from stair.data.synth.build import SynthConfig, build_synth_dataset
from tests.tiny_synth import one_torch_thread, tiny_trained  # noqa: F401  (one torch thread)

COUNT = "Count(lying on a bed, Localize(after, sitting on a chair))"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A model trained on symbolic features, and the same worlds with their drawn videos."""
    root = tmp_path_factory.mktemp("thumbs")
    _, ckpt, _ = tiny_trained(root, videos=6, questions=3, steps=1)
    data = root / "rendered"
    build_synth_dataset(data, SynthConfig(videos=6, questions_per_video=3, seed=5, workers=1,
                                          render=("symbolic", "video")))  # fmt: skip
    return data, ckpt


def test_a_dataset_video_gives_the_page_its_frames(rendered):
    data, ckpt = rendered
    model = stair.load(ckpt, data=data)
    video = next(iter(sorted((data / "videos").glob("*.mp4")))).stem
    explanation = model.ask(video, "How many times did they lie on a bed?", program=COUNT)
    assert explanation.frames is not None and len(explanation.frames) > 0
    assert explanation.frames.shape[-1] == 3
    assert explanation.to_json()["video"]["path"].endswith(f"videos/{video}.mp4")


def test_without_videos_there_are_no_frames(rendered, tmp_path):
    data, ckpt = rendered
    for mp4 in (data / "videos").glob("*.mp4"):
        mp4.rename(tmp_path / mp4.name)
    try:
        model = stair.load(ckpt, data=data)
        video = sorted(p.stem for p in tmp_path.glob("*.mp4"))[0]
        assert model.ask(video, "How many times?", program=COUNT).frames is None
    finally:
        for mp4 in tmp_path.glob("*.mp4"):
            mp4.rename(data / "videos" / mp4.name)
