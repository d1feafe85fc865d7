"""pose-tf: bottom-up multi-person pose estimation and tracking with TensorFlow/Keras.

The sub-packages follow the data flow, in layers. A module imports from its own
sub-package and from the layers below its own, never from its layer or above
(tests/test_layering.py checks every import):

    core, resources        conventions (errors, keypoints, Pose, config, geometry); files
    io                     images, video, PoseTrack files, atomic writes (imports core only)
    codec, models          training targets + decoder helpers; networks
    data, grouping         records, sources, tf.data stream; peaks + PAF grouping (C++)
    inference              estimator, runtimes (which load models), export metadata
    evaluation, tracking, export
    training               above evaluation: it runs the periodic COCO evaluation
    viz
    video                  the video path's stages, sequential or pipelined in threads
    commands
    pose_tf (this file), then cli, then __main__

In short: core <- io <- codec, models <- data, grouping <- inference <- evaluation,
tracking, export <- training <- viz <- video <- commands <- cli.
"""
from .core.errors import PoseTfError
from .core.keypoints import COCO_KEYPOINTS, Layout, get_layout
from .core.pose import Pose

__version__ = "0.1.0"


def __getattr__(name):
    # The estimator imports TensorFlow: load it only when asked for.
    if name == "Estimator":
        from .inference.estimator import Estimator
        return Estimator
    raise AttributeError(name)


__all__ = ["COCO_KEYPOINTS", "Estimator", "Layout", "Pose", "PoseTfError", "get_layout"]
