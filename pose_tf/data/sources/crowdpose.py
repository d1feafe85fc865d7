"""CrowdPose (COCO-style JSON, 14 joints: 12 limb joints + head top + neck).

Head top and neck have no COCO-17 counterpart: they are dropped and the face joints are
flagged unlabelled (`crowdpose14.labelled()`), never guessed.
"""
from __future__ import annotations

from .base import ReadResult
from .coco import read_coco_style

NAME = "crowdpose"
JOINT_SET = "crowdpose14"


def read(annotations, images, **_) -> ReadResult:
    return read_coco_style(annotations, images, source=NAME, joint_set=JOINT_SET)
