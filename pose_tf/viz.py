"""Drawing poses: skeleton lines and joints, one distinct colour per person (or track).

cv2 draws at pixel indices (the centre of pixel i is i); poses are continuous (centre at
i + 0.5, pose_tf.core.geometry), so their points are converted here, once, before drawing.
"""
from __future__ import annotations

import colorsys
from typing import Sequence

import cv2
import numpy as np

from .core.geometry import continuous_to_index
from .core.keypoints import COCO_SKELETON
from .core.pose import Pose


def color(index: int) -> tuple:
    """A distinct, saturated RGB colour for person/track `index` (golden-ratio hues)."""
    hue = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(255 * r), int(255 * g), int(255 * b)


def draw_poses(image_rgb: np.ndarray, poses: Sequence[Pose], color_by_track: bool = False,
               label: bool = None) -> np.ndarray:
    """A copy of the image with every pose drawn; only detected joints (score > 0)."""
    out = np.ascontiguousarray(image_rgb.copy())
    size = max(out.shape[:2])
    label = color_by_track if label is None else label
    for i, pose in enumerate(poses):
        # Line width follows the person's size, so small people stay readable.
        height = float(pose.bbox()[3]) if pose.detected.sum() > 1 else size / 10
        thickness = int(np.clip(height / 50, 1, max(2, size // 300)))
        radius = thickness + 1
        key = pose.track_id if color_by_track and pose.track_id is not None else i
        c = color(key)
        ok = pose.detected
        pts = continuous_to_index(pose.xy, ok)
        for a, b in COCO_SKELETON:
            if ok[a] and ok[b]:
                cv2.line(out, _pt(pts[a]), _pt(pts[b]), c, thickness, cv2.LINE_AA)
        for k in np.flatnonzero(ok):
            cv2.circle(out, _pt(pts[k]), radius + 1, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(out, _pt(pts[k]), radius, c, -1, cv2.LINE_AA)
        if label and pose.track_id is not None and ok.any():
            x, y = pts[ok].min(0)
            cv2.putText(out, f"id {pose.track_id}", (int(x), max(12, int(y) - 6)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4 + size / 2000, c, max(1, thickness // 2),
                        cv2.LINE_AA)
    return out


def _pt(xy) -> tuple:
    return int(round(float(xy[0]))), int(round(float(xy[1])))
