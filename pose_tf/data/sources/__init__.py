"""Dataset readers: one module per source, each turning its annotation files into `Entry`s.

Every module defines NAME, JOINT_SET (its key in `pose_tf.core.keypoints.JOINT_SETS`) and
`read(annotations, images, **options) -> base.ReadResult`. `SOURCES` maps the names that
`pose-tf convert SOURCE` accepts to the modules.
"""
from __future__ import annotations

import importlib

from ...core.errors import PoseTfError

SOURCE_NAMES = ("coco", "mpii", "posetrack", "crowdpose", "aic", "ochuman", "panoptic", "ntu",
                "unlabelled")


def get_source(name: str):
    """The reader module of source `name` (PoseTfError listing the known ones otherwise)."""
    if name not in SOURCE_NAMES:
        raise PoseTfError(f"unknown source {name!r}; known sources: {', '.join(SOURCE_NAMES)}")
    return importlib.import_module(f"{__name__}.{name}")


def read_source(name: str, annotations, images, **options):
    """Read one source's annotations -> base.ReadResult (entries + reported problems)."""
    return get_source(name).read(annotations, images, **options)
