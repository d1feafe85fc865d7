"""Files that ship inside the package (package data, so `pip install .` installs them):

- default_model.keras: the network used when no --model is given (card: models/default/README.md)
- demo.jpg: the default input of `pose-tf demo` (script/make_demo_image.sh)
- mean_pose.json, tracker_bonn.yaml: completion template and tracker weights

Find them with `path(name)`, never with a path relative to the repository: an installed
pose-tf has no repository around it.
"""
from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path


def path(name: str) -> Path:
    """Filesystem path of the shipped file pose_tf/resources/<name> (it may not exist)."""
    return Path(os.fspath(files("pose_tf") / "resources" / name))
