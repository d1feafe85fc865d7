"""Shared test fixtures: paths into ../shared (tests skip cleanly when it is absent)."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POSE_TF_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
PEER_GRAPH = SHARED / "peer" / "tfpose_mobilenet_v2_small" / "graph_opt.pb"
COCO_MINI = DATA / "coco_mini"


def need(path: Path) -> Path:
    """Skip the calling test unless `path` exists (real data lives outside the repo)."""
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


def small_network(seed: int, stages: int):
    """A small untrained network of ours (real layers, our output contract), for tests."""
    import keras

    from pose_tf.models import build_model
    from pose_tf.training.settings import ModelSetting

    keras.utils.set_random_seed(seed)
    return build_model(ModelSetting(backbone="mobilenet_v2", alpha=0.35, stages=stages,
                                    neck_channels=16, stage_channels=16, stage_convs=1))


@pytest.fixture
def data_dir():
    return need(DATA)


@pytest.fixture
def peer_graph():
    return need(PEER_GRAPH)


@pytest.fixture
def coco_mini():
    return need(COCO_MINI)
