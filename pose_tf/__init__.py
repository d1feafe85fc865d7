"""pose-tf: bottom-up multi-person pose estimation and tracking with TensorFlow/Keras."""
from .errors import PoseTfError
from .keypoints import COCO_KEYPOINTS, Layout, get_layout
from .pose import Pose

__version__ = "0.1.0"


def __getattr__(name):
    # The estimator imports TensorFlow: load it only when asked for.
    if name == "Estimator":
        from .estimator import Estimator
        return Estimator
    raise AttributeError(name)


__all__ = ["COCO_KEYPOINTS", "Estimator", "Layout", "Pose", "PoseTfError", "get_layout"]
