"""The one pose structure: a detected person, from grouping to tracker to writers to drawer.

`keypoints` is a float32 array [17, 3] of (x, y, score) in COCO-17 order and continuous
image coordinates (pose_tf.core.geometry: pixel i covers [i, i + 1)). COCO files store pixel
indices: `to_coco` and `from_coco` convert, and are the only place that does for COCO. A keypoint with score 0 was not detected; its (x, y) is a placement guess
(see `pose_tf.codec.completion`) so that COCO's OKS, which scores every keypoint of a
detection, does not see a joint at (0, 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .geometry import continuous_to_index, index_to_continuous
from .keypoints import NUM_KEYPOINTS


@dataclass
class Pose:
    keypoints: np.ndarray            # [17, 3] float32: x, y, score
    score: float                     # person confidence, used to rank detections
    track_id: Optional[int] = None   # identity across frames, set by the tracker

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, np.float32).reshape(NUM_KEYPOINTS, 3)
        self.score = float(self.score)

    @property
    def xy(self) -> np.ndarray:
        return self.keypoints[:, :2]

    @property
    def detected(self) -> np.ndarray:
        """Boolean [17]: which keypoints were found (score > 0)."""
        return self.keypoints[:, 2] > 0

    def bbox(self, detected_only: bool = True) -> np.ndarray:
        """Box (x, y, w, h) around the detected keypoints (all keypoints if none detected)."""
        pts = self.xy[self.detected] if detected_only and self.detected.any() else self.xy
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        return np.array([x0, y0, x1 - x0, y1 - y0], np.float32)

    def placed(self) -> np.ndarray:
        """Boolean [17]: keypoints with a position (detected, or placed by completion);
        the others are (0, 0, 0) and stay so in every convention."""
        return self.detected | (self.xy != 0).any(1)

    def to_coco(self, image_id: int) -> dict:
        """One entry of a COCO keypoint results file (as pycocotools' loadRes reads it),
        in COCO's pixel-index convention."""
        kps = continuous_to_index(self.keypoints, self.placed())
        out = {
            "image_id": int(image_id),
            "category_id": 1,
            "keypoints": [round(float(v), 2) for v in kps.reshape(-1)],
            "score": round(self.score, 5),
        }
        if self.track_id is not None:
            out["track_id"] = int(self.track_id)
        return out

    @classmethod
    def from_coco(cls, annotation: dict) -> "Pose":
        """A pose from a COCO annotation or result (pixel indices, converted to continuous);
        visibility v>0 becomes score 1."""
        kps = np.asarray(annotation["keypoints"], np.float32).reshape(NUM_KEYPOINTS, 3)
        if "score" not in annotation:  # ground truth: v in {0,1,2}
            kps[:, 2] = (kps[:, 2] > 0).astype(np.float32)
        placed = (kps[:, 2] > 0) | (kps[:, :2] != 0).any(1)
        return cls(index_to_continuous(kps, placed), annotation.get("score", 1.0),
                   annotation.get("track_id"))
