"""Detector-noise simulator: annotated poses in, detector-like detections out.

Fitting the tracker (and benchmarking it) needs detections that look like a detector's,
so `DetectorNoise` turns annotated poses into noisy detections (joint jitter relative to
person size, dropped joints, missed people in bursts, spurious people), seeded, with known
identities for every detection.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import numpy as np

from ..core.keypoints import NUM_KEYPOINTS
from ..core.pose import Pose


@dataclass(frozen=True)
class NoiseLevel:
    name: str
    jitter: float         # joint position std, as a fraction of the person's box diagonal
    drop_joint: float     # probability that a joint is not detected
    miss_person: float    # probability, per person and frame, that a missed burst starts
    miss_burst: int       # a missed burst lasts 1..miss_burst frames
    spurious: float       # expected spurious (false) people per frame


# Jitter is relative to the box diagonal; PCKh@0.5 accepts roughly 0.06 of it (half a head
# size), so "high" already puts about half of all joints outside the PCKh radius.
NOISE_LEVELS = {
    "low": NoiseLevel("low", 0.015, 0.10, 0.03, 3, 0.10),
    "medium": NoiseLevel("medium", 0.03, 0.20, 0.08, 6, 0.30),
    "high": NoiseLevel("high", 0.05, 0.30, 0.15, 10, 0.60),
}


class DetectorNoise:
    """Seeded detector simulation: GT poses in, (noisy detections, GT id per detection) out.

    Missed people vanish for bursts of frames (occlusion-like), spurious people are real
    poses of the same video placed elsewhere for one frame, and the order of detections in
    each frame is shuffled (a detector's output order says nothing about identity).
    Spurious detections get label -1.
    """

    def __init__(self, level: NoiseLevel, seed: int = 0):
        self.level = level
        self.seed = seed

    def __call__(self, frames: Sequence[Sequence[Pose]], stream: int = 0):
        rng = np.random.default_rng([self.seed, stream])
        lv = self.level
        pool = [p for f in frames for p in f if p.detected.sum() >= 2]
        all_xy = np.concatenate([p.xy[p.detected] for p in pool]) if pool else np.zeros((1, 2))
        lo, hi = all_xy.min(0), all_xy.max(0)
        missing: Dict[int, int] = {}
        out_frames, out_labels = [], []
        for poses in frames:
            dets, labels = [], []
            for p in poses:
                tid = -1 if p.track_id is None else int(p.track_id)
                if missing.get(tid, 0) > 0:
                    missing[tid] -= 1
                    continue
                if rng.random() < lv.miss_person:
                    missing[tid] = int(rng.integers(1, lv.miss_burst + 1)) - 1
                    continue
                noisy = self._corrupt(p, rng)
                if noisy is not None:
                    dets.append(noisy)
                    labels.append(tid)
            for _ in range(rng.poisson(lv.spurious) if pool else 0):
                src = pool[int(rng.integers(len(pool)))]
                box = src.bbox()
                shift = rng.uniform(lo, np.maximum(lo, hi - box[2:])) - box[:2]
                moved = Pose(np.concatenate([src.xy + shift, src.keypoints[:, 2:]], 1), 1.0)
                noisy = self._corrupt(moved, rng)
                if noisy is not None:
                    dets.append(noisy)
                    labels.append(-1)
            order = rng.permutation(len(dets))
            out_frames.append([dets[i] for i in order])
            out_labels.append([labels[i] for i in order])
        return out_frames, out_labels

    def _corrupt(self, pose: Pose, rng) -> Optional[Pose]:
        ok = pose.detected & (rng.random(NUM_KEYPOINTS) >= self.level.drop_joint)
        if ok.sum() < 2:
            return None
        size = float(np.hypot(*pose.bbox()[2:]))
        xy = pose.xy + rng.normal(0.0, self.level.jitter * max(size, 1.0), (NUM_KEYPOINTS, 2))
        conf = np.where(ok, rng.uniform(0.3, 1.0, NUM_KEYPOINTS), 0.0)
        kps = np.concatenate([np.where(ok[:, None], xy, 0.0), conf[:, None]], 1)
        return Pose(kps, float(conf[ok].mean()))
