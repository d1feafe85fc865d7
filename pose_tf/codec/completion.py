"""Placing joints the network did not find.

COCO's OKS scores every keypoint of a detection, so a missing joint written as (0, 0)
throws away whatever credit a sensible guess would get. We fit the mean COCO pose
(resources/mean_pose.json, made by script/make_mean_pose.py) to the joints that were
found, by least-squares scale + translation, and read the missing joints off the fit.
Their score stays 0, so drawing, tracking and the person score ignore them.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np


@lru_cache(maxsize=1)
def mean_pose() -> np.ndarray:
    text = resources.files("pose_tf.resources").joinpath("mean_pose.json").read_text()
    return np.asarray(json.loads(text)["mean_pose"], np.float32)


def complete_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """[M, 17, 3] -> copy with (x, y) of undetected joints (score 0) filled in."""
    out = np.array(keypoints, np.float32, copy=True)
    template = mean_pose()
    for person in out:
        found = person[:, 2] > 0
        if found.all() or not found.any():
            continue
        src, dst = template[found], person[found, :2]
        src_c, dst_c = src - src.mean(0), dst - dst.mean(0)
        denom = float((src_c ** 2).sum())
        scale = float((src_c * dst_c).sum()) / denom if denom > 1e-9 else 0.0
        if scale <= 0:  # one joint, or a degenerate fit: stack the rest on the centroid
            scale = 0.0
        person[~found, :2] = (template[~found] - src.mean(0)) * scale + dst.mean(0)
    return out
