"""Rendered synthetic videos -> `stair features` (decord + resnet18) -> QADataModule batches."""

import numpy as np
import pytest

from stair.cli import main
from stair.data.datamodule import QADataModule
from stair.data.synth.build import SynthConfig, build_synth_dataset
from stair.data.synth.video import VideoRenderConfig
from stair.programs import load_scene_graphs


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("rendered")
    config = SynthConfig(videos=5, questions_per_video=6, seed=4, workers=1,
                         render=("symbolic", "video"), video=VideoRenderConfig(size=(96, 128)))  # fmt: skip
    build_synth_dataset(root, config)
    store = root / "resnet18.h5"
    args = ["features", "--videos", str(root / "videos"), "--out", str(store), "--backbone",
            "resnet18", "--frames", "8", "--size", "112"]  # fmt: skip
    assert main(args) == 0
    return root, store


def test_extracted_features_serve_batches_with_golds_on_the_sampled_frames(rendered):
    root, store = rendered
    dm = QADataModule(str(root), features=str(store), batch_size=64)
    voc = dm.vocabularies
    assert (voc.feature_dim, voc.num_frames) == (512, 8)
    dm.setup("fit")
    graphs = load_scene_graphs(root / "scene_graphs.json")
    checked = 0
    for batch in dm.train_dataloader():
        assert batch.features.shape[1:] == (8, 512)
        for b, (tree, golds) in enumerate(zip(batch.trees, batch.golds)):
            video = batch.video_index[b]
            graph = graphs[batch.video_ids[video]]
            times = np.array([graph.time_of(i) for i in range(graph.num_frames)])
            nearest = [int(np.abs(times - t).argmin()) for t in batch.timestamps[video].tolist()]
            record = next(r for r in dm.records("train") if r.qid == batch.qids[b])
            for node in tree.nodes:
                gold = record.golds[str(node.id)]
                if gold["type"] == "Frames":
                    mask = np.zeros(graph.num_frames)
                    for start, end in gold["spans"]:
                        mask[start:end] = 1
                    assert golds[node.id].tolist() == mask[nearest].tolist()
                    checked += 1
    assert checked > 0
