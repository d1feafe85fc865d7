"""OCHuman (the COCO-format release: 17 COCO keypoints, RLE person segments).

Heavily occluded people; a person whose keypoints are all absent is ignored through its
segment, like COCO's zero-keypoint people.
"""
from __future__ import annotations

from .base import ReadResult
from .coco import read_coco_style

NAME = "ochuman"
JOINT_SET = "coco17"


def read(annotations, images, **_) -> ReadResult:
    return read_coco_style(annotations, images, source=NAME, joint_set=JOINT_SET)
