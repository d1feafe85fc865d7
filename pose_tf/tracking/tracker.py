"""Online multi-person pose tracking with a learned pairwise model (in the spirit of ArtTrack).

Each frame, every (recent track, new detection) pair gets temporal pairwise features:
OKS, per-joint distances normalised by the person's size, box IoU, joint-visibility
agreement, scale change and frame gap, all measured against the track's *constant-velocity
prediction* of where its joints are now. A logistic model, fit from annotated tracks
(`fitting.fit_tracker`, `pose-tf fit-tracker`), turns them into P(same person). The Hungarian
algorithm assigns detections to tracks so that the summed log-odds margin over the gate,
sum(logit - logit(min_probability)), is the largest; pairs below `min_probability` are
never linked. Tracks that lose their person are kept for `max_lost_frames` so a person
missed or occluded for a moment gets their id back; unmatched detections start new tracks.

The per-frame work (features, log-odds, assignment, track update) is compiled (`_pairs`,
cpp/pairs.cpp). Everything is deterministic and instance-local: a `PoseTracker` owns its
tracks and its id counter, nothing is global. Poses come from the estimator or from files
(`Pose` lists).

Fitting the model is `pose_tf.tracking.fitting`; the detections it fits on come from
`pose_tf.tracking.simulator`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..core.keypoints import NUM_KEYPOINTS
from ..core.pose import Pose
from . import _pairs

# Pairwise features, in the order of TrackerConfig.weights.
FEATURES = (
    "oks",              # Object Keypoint Similarity of prediction vs detection
    "log_dist",         # log(mean per-joint distance / person size), box centres if no joint shared
    "pck",              # fraction of shared joints closer than 0.1 x person size
    "box_iou",          # IoU of predicted and detected boxes
    "visibility",       # |joints in both| / |joints in either| (visibility agreement)
    "scale_change",     # |log(detected size / track size)|
    "log_centre_dist",  # log(box-centre distance / person size)
    "log_gap",          # log(frames since the track was last seen)
    "shared_fraction",  # joints in both / 17
    "dist_x_gap",       # log_dist x log_gap: predictions get worse the longer a track is lost
    "log_hits",         # log(detections in the track): one-frame tracks are often spurious
)
_LOGIT_CLIP = 30.0


@dataclass
class TrackerConfig:
    """The tracker's weights and settings (a YAML file loaded with `load_config`)."""
    features: List[str]
    weights: List[float]
    bias: float
    feature_mean: List[float]
    feature_std: List[float]
    min_probability: float = 0.5
    max_lost_frames: int = 10
    velocity_smoothing: float = 0.3       # weight of the newest velocity measurement
    position_smoothing: float = 0.7       # weight of a new detection vs the predicted joint
    joint_memory_frames: int = 10         # how long an unseen joint stays in the template
    fitted_on: str = ""                   # provenance, free text

    def validate(self):
        if list(self.features) != list(FEATURES):
            raise ValueError(f"'features' must be {list(FEATURES)} (this tracker's feature set)")
        n = len(FEATURES)
        for key in ("weights", "feature_mean", "feature_std"):
            if len(getattr(self, key)) != n:
                raise ValueError(f"{key!r} must have {n} values, has {len(getattr(self, key))}")
        if any(s <= 0 for s in self.feature_std):
            raise ValueError("'feature_std' values must be > 0")
        if not 0.0 < self.min_probability < 1.0:
            raise ValueError("'min_probability' must be in (0, 1)")
        if self.max_lost_frames < 0 or self.joint_memory_frames < 0:
            raise ValueError("'max_lost_frames' and 'joint_memory_frames' must be >= 0")
        for key in ("velocity_smoothing", "position_smoothing"):
            if not 0.0 < getattr(self, key) <= 1.0:
                raise ValueError(f"{key!r} must be in (0, 1]")


def load_tracker_config(path=None) -> TrackerConfig:
    """Tracker weights from `path`, or the shipped ones (pose_tf/resources/tracker_bonn.yaml,
    fit on the Bonn PoseTrack train videos by script/fit_default_tracker.py)."""
    from importlib import resources

    from ..core.config import load_config

    if path is None:
        shipped = resources.files("pose_tf.resources").joinpath("tracker_bonn.yaml")
        with resources.as_file(shipped) as p:
            return load_config(p, TrackerConfig)
    return load_config(path, TrackerConfig)


def save_tracker_config(config: TrackerConfig, path) -> None:
    import yaml

    from ..core.config import to_dict

    from ..io.files import write_text_atomic

    header = "# pose-tf tracker: logistic model over pairwise features (pose_tf/tracking/tracker.py)\n"
    write_text_atomic(path, header + yaml.safe_dump(to_dict(config), sort_keys=False))


# --------------------------------------------------------------------------------------
# Track state and pairwise features
#
# A frame has a handful of people, so the per-frame work (pair features, their log-odds,
# the assignment, the track update) is a compiled kernel, _pairs (cpp/pairs.cpp): done with
# numpy, its cost was the number of calls, not their size. tests/tracking_reference.py
# is the same work in numpy, which the tests pin the kernel to.

class _Tracks:
    """All tracks' state, one row per track: `joints` [T, 3, 17] holds each joint's
    template position (x, y: where it was last seen, moved with the body since) and its
    age (frames since it was seen, inf: never); `motion` [T, 4] the smoothed whole-body
    velocity (px per frame), the frame the track was last seen and its detection count.
    Both stay C-contiguous float64: the kernel reads and updates them in place."""

    def __init__(self):
        self.ids = np.zeros(0, np.int64)
        self.labels = np.zeros(0, np.int64)          # ground-truth ids (fitting only)
        self.joints = np.zeros((0, 3, NUM_KEYPOINTS))
        self.motion = np.zeros((0, 4))

    xy = property(lambda self: self.joints[:, :2])
    age = property(lambda self: self.joints[:, 2])
    velocity = property(lambda self: self.motion[:, :2])
    last = property(lambda self: self.motion[:, 2])
    hits = property(lambda self: self.motion[:, 3])

    def __len__(self):
        return len(self.ids)

    def forget_lost(self, frame: int, max_lost: int) -> None:
        """Drop the tracks not seen within the last max_lost + 1 frames."""
        recent = _pairs.seen_since(self.motion, frame - max_lost - 1)    # None: all are
        if recent is not None:
            for key in ("ids", "labels", "joints", "motion"):
                setattr(self, key, getattr(self, key)[recent])

    def add(self, ids, xy, ok, frame: int, labels=None) -> None:
        n = len(ids)
        joints = np.concatenate([np.where(ok[:, None], xy, 0.0), np.where(ok, 0.0, np.inf)[:, None]], 1)
        motion = np.zeros((n, 4))
        motion[:, 2:] = frame, 1
        lab = np.full(n, -1, np.int64) if labels is None else np.asarray(labels, np.int64)
        self.ids = np.concatenate([self.ids, np.asarray(ids, np.int64)])
        self.labels = np.concatenate([self.labels, lab])
        self.joints = np.concatenate([self.joints, joints])
        self.motion = np.concatenate([self.motion, motion])

    def update(self, rows, cols, xy, ok, frame: int, config: "TrackerConfig") -> None:
        """Link detections `cols` of xy [D, 2, 17], ok [D, 17] to tracks `rows` at `frame`
        (int64 arrays, each distinct): joints seen now blend prediction and detection,
        unseen ones move with the body, the velocity is smoothed (a track's first link
        takes it whole)."""
        _pairs.update(self.joints, self.motion, rows, cols, xy, ok, frame,
                      config.velocity_smoothing, config.position_smoothing)


def predict(tracks: _Tracks, frame: int, joint_memory: int):
    """(gap [T], xy [T, 2, 17], ok [T, 17]): frames since each track was seen, its joints
    moved by its constant velocity to `frame`, and the joints its template still holds."""
    return _pairs.predict(tracks.joints, tracks.motion, frame, joint_memory)


def pair_features(tracks: _Tracks, det_xy: np.ndarray, det_ok: np.ndarray, frame: int,
                  joint_memory: int) -> np.ndarray:
    """[T, D, F] features of every (track, detection) pair, tracks predicted to `frame`."""
    return _pairs.pair_features(tracks.joints, tracks.motion, det_xy, det_ok, frame, joint_memory)


# Boxes of [N, 2, 17] poses' detected joints ([N, 4] x0y0x1y1, 0-size if none) and [A, B]
# IoU of such boxes, as the features measure them; the greedy baselines of
# bench/tracking.py match on them.
_boxes = _pairs.boxes
_iou = _pairs.iou


def _pose_arrays(poses: Sequence[Pose]) -> Tuple[np.ndarray, np.ndarray]:
    """(xy [N, 2, 17], ok [N, 17]) of `poses`."""
    if not poses:
        return np.zeros((0, 2, NUM_KEYPOINTS)), np.zeros((0, NUM_KEYPOINTS), bool)
    # one copy into the layout and dtype of the tracks
    kps = np.array([p.keypoints.T for p in poses], np.float64)              # [N, 3, 17]
    return kps[:, :2], kps[:, 2] > 0


class _LinearModel:
    """The logistic model folded into one weight per raw feature (no standardising per call)."""

    def __init__(self, config: TrackerConfig):
        std = np.asarray(config.feature_std, float)
        self.coef = np.asarray(config.weights, float) / std
        self.const = float(config.bias - np.dot(self.coef, np.asarray(config.feature_mean, float)))


def _assign(logit: np.ndarray, gate_logit: float):
    """(track rows, detection columns) of the links that maximise the summed log-odds
    margin over the gate, sum(logit - gate_logit): a link is worth making only if its
    log-odds beat the gate, which is the score of leaving both sides unlinked. `logit` is
    C-contiguous float64; the kernel solves it with the Hungarian method."""
    return _pairs.assign(logit, gate_logit)


def _gate_logit(config: TrackerConfig) -> float:
    return math.log(config.min_probability / (1.0 - config.min_probability))


# --------------------------------------------------------------------------------------
# The tracker

class PoseTracker:
    """Online tracker: call `update(poses)` once per frame, in order."""

    def __init__(self, config: Optional[TrackerConfig] = None):
        self.config = config or load_tracker_config()
        self._model = _LinearModel(self.config)
        self._gate = _gate_logit(self.config)
        self.reset()

    def reset(self) -> None:
        self.tracks = _Tracks()
        self.frame = -1
        self._next_id = 0

    def _logits(self, xy, ok, frame: int) -> np.ndarray:
        """[T, D] log-odds of the tracks vs detections xy, ok at `frame`."""
        return _pairs.pair_logits(self.tracks.joints, self.tracks.motion, xy, ok, frame,
                                  self.config.joint_memory_frames, self._model.coef,
                                  self._model.const, _LOGIT_CLIP)

    def _match(self, xy, ok):
        """(track rows, detection columns) to link this frame (tracks and detections exist)."""
        return _assign(self._logits(xy, ok, self.frame), self._gate)

    def probabilities(self, poses: Sequence[Pose]) -> np.ndarray:
        """[T, D] P(same person) of the current candidate tracks vs `poses` at the next frame."""
        xy, ok = _pose_arrays(poses)
        self.tracks.forget_lost(self.frame + 1, self.config.max_lost_frames)
        if not len(self.tracks) or not len(poses):
            return np.zeros((len(self.tracks), len(poses)))
        return 1.0 / (1.0 + np.exp(-self._logits(xy, ok, self.frame + 1)))

    def update(self, poses: Sequence[Pose]) -> List[Pose]:
        """Assign a track id to every pose of the next frame; returns new `Pose` objects."""
        self.frame += 1
        xy, ok = _pose_arrays(poses)
        tracks = self.tracks
        tracks.forget_lost(self.frame, self.config.max_lost_frames)
        # a handful of people: plain lists are cheaper than numpy calls here
        ids = [-1] * len(poses)
        if len(tracks) and len(poses):
            rows, cols = self._match(xy, ok)
            tracks.update(rows, cols, xy, ok, self.frame, self.config)
            for col, track_id in zip(cols.tolist(), tracks.ids[rows].tolist()):
                ids[col] = track_id
        new = [i for i, track_id in enumerate(ids) if track_id < 0]
        if new:
            fresh = list(range(self._next_id, self._next_id + len(new)))
            for i, track_id in zip(new, fresh):
                ids[i] = track_id
            self._next_id += len(new)
            tracks.add(np.array(fresh), xy[new], ok[new], self.frame)
        return [Pose(p.keypoints, p.score, i) for p, i in zip(poses, ids)]


def track_sequence(frames: Sequence[Sequence[Pose]], config: Optional[TrackerConfig] = None) -> List[List[Pose]]:
    """Track a whole sequence with a fresh tracker (pure: same input, same ids)."""
    tracker = PoseTracker(config)
    return [tracker.update(poses) for poses in frames]
