"""Online multi-person pose tracking with a learned pairwise model (in the spirit of ArtTrack).

Each frame, every (recent track, new detection) pair gets temporal pairwise features:
OKS, per-joint distances normalised by the person's size, box IoU, joint-visibility
agreement, scale change and frame gap, all measured against the track's *constant-velocity
prediction* of where its joints are now. A logistic model, fit from annotated tracks
(`fitting.fit_tracker`, `pose-tf fit-tracker`), turns them into P(same person). The Hungarian
algorithm (scipy's `linear_sum_assignment`) assigns detections to tracks so that the summed
log-odds margin over the gate, sum(logit - logit(min_probability)), is the largest; pairs
below `min_probability` are never linked. Tracks that lose their person are kept
for `max_lost_frames` so a person missed or occluded for a moment gets their id back;
unmatched detections start new tracks.

Everything is deterministic and instance-local: a `PoseTracker` owns its tracks and its id
counter, nothing is global. Poses come from the estimator or from files (`Pose` lists).

Fitting the model is `pose_tf.tracking.fitting`; the detections it fits on come from
`pose_tf.tracking.simulator`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..core.keypoints import COCO_SIGMAS, NUM_KEYPOINTS
from ..core.pose import Pose

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

class _Tracks:
    """All tracks' state as arrays (one row per track), so updates are vectorised."""

    def __init__(self):
        self.ids = np.zeros(0, np.int64)
        self.xy = np.zeros((0, NUM_KEYPOINTS, 2))    # template: last known position of each joint
        self.age = np.zeros((0, NUM_KEYPOINTS))      # frames since each joint was seen (inf: never)
        self.velocity = np.zeros((0, 2))             # smoothed whole-body velocity, px per frame
        self.last = np.zeros(0, np.int64)            # frame the track was last seen
        self.hits = np.zeros(0, np.int64)            # detections linked so far
        self.labels = np.zeros(0, np.int64)          # ground-truth ids (fitting only)

    def __len__(self):
        return len(self.ids)

    def keep(self, mask: np.ndarray) -> None:
        for key in ("ids", "xy", "age", "velocity", "last", "hits", "labels"):
            setattr(self, key, getattr(self, key)[mask])

    def add(self, ids, xy, ok, frame: int, labels=None) -> None:
        n = len(ids)
        self.ids = np.concatenate([self.ids, np.asarray(ids, np.int64)])
        self.xy = np.concatenate([self.xy, np.where(ok[..., None], xy, 0.0)])
        self.age = np.concatenate([self.age, np.where(ok, 0.0, np.inf)])
        self.velocity = np.concatenate([self.velocity, np.zeros((n, 2))])
        self.last = np.concatenate([self.last, np.full(n, frame, np.int64)])
        self.hits = np.concatenate([self.hits, np.ones(n, np.int64)])
        lab = np.full(n, -1, np.int64) if labels is None else np.asarray(labels, np.int64)
        self.labels = np.concatenate([self.labels, lab])

    def update(self, rows, xy, ok, frame: int, config: "TrackerConfig") -> None:
        """Link detections (xy [M, 17, 2], ok [M, 17]) to tracks `rows` at `frame`."""
        if len(rows) == 0:
            return
        gap = (frame - self.last[rows]).astype(float)[:, None]              # [M, 1]
        t_xy, age, vel, hits = self.xy[rows], self.age[rows], self.velocity[rows], self.hits[rows]
        known = np.isfinite(age)
        shared = known & ok
        n_shared = shared.sum(1)[:, None]
        # Rigid whole-body velocity: averaging over joints cancels most per-joint noise.
        measured = ((xy - t_xy) * shared[..., None]).sum(1) / np.maximum(n_shared, 1) / gap
        a = config.velocity_smoothing
        smoothed = np.where((hits == 1)[:, None], measured, a * measured + (1 - a) * vel)
        new_vel = np.where(n_shared > 0, smoothed, vel)
        # joints seen now blend prediction and detection; unseen ones move with the body
        predicted = t_xy + vel[:, None] * gap[..., None]
        b = np.where(known & (hits > 1)[:, None], config.position_smoothing, 1.0)[..., None]
        self.xy[rows] = np.where(ok[..., None], b * xy + (1 - b) * predicted,
                                 t_xy + new_vel[:, None] * gap[..., None])
        self.age[rows] = np.where(ok, 0.0, age + gap)
        self.velocity[rows] = new_vel
        self.last[rows] = frame
        self.hits[rows] = hits + 1

    def recent(self, frame: int, max_lost: int) -> np.ndarray:
        """Boolean mask of tracks seen within the last max_lost + 1 frames."""
        return frame - self.last <= max_lost + 1


def _boxes(xy: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """[N, 4] boxes (x0, y0, x1, y1) of the ok joints of [N, 17, 2] poses (0-size if none)."""
    # x and y separately: numpy is slow on broadcasts whose innermost axis has length 2
    x, y = xy[..., 0], xy[..., 1]
    box = np.stack([np.where(ok, x, np.inf).min(1), np.where(ok, y, np.inf).min(1),
                    np.where(ok, x, -np.inf).max(1), np.where(ok, y, -np.inf).max(1)], 1)
    box[~ok.any(1)] = 0.0
    return box


def _size(boxes: np.ndarray) -> np.ndarray:
    """Person size: the box diagonal (at least 1 pixel)."""
    return np.maximum(np.hypot(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), 1.0)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[A, B] IoU of x0y0x1y1 boxes."""
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


_OKS_DENOM = 2 * (2 * COCO_SIGMAS.astype(np.float64)) ** 2


def pair_features(tracks: _Tracks, det_xy: np.ndarray, det_ok: np.ndarray, frame: int,
                  joint_memory: int) -> np.ndarray:
    """[T, D, F] features of every (track, detection) pair, tracks predicted to `frame`."""
    shape = (len(tracks), len(det_xy))
    return np.stack([np.broadcast_to(f, shape) for f in
                     _feature_list(tracks, det_xy, det_ok, frame, joint_memory)], -1)


def _feature_list(tracks: _Tracks, det_xy, det_ok, frame: int, joint_memory: int) -> list:
    """The FEATURES as [T, D] arrays (per-track ones as [T, 1]); few numpy calls, for speed."""
    gap = (frame - tracks.last).astype(float)[:, None]                            # [T, 1]
    t_xy = tracks.xy + tracks.velocity[:, None] * gap[..., None]
    t_ok = tracks.age <= joint_memory            # joints the template still holds
    t_box, d_box = _boxes(t_xy, t_ok), _boxes(det_xy, det_ok)
    t_size, d_size = _size(t_box)[:, None], _size(d_box)[None]
    shared = t_ok[:, None] & det_ok[None]                                          # [T, D, 17]
    n_shared = shared.sum(-1)
    n_any = t_ok.sum(1)[:, None] + det_ok.sum(1)[None] - n_shared
    dx = t_xy[:, None, :, 0] - det_xy[None, :, :, 0]
    dy = t_xy[:, None, :, 1] - det_xy[None, :, :, 1]
    d2 = dx * dx + dy * dy                                                         # pixels^2
    dist = np.sqrt(d2) / t_size[..., None]
    safe_n = np.maximum(n_shared, 1)
    centre_diff = (t_box[:, None, :2] + t_box[:, None, 2:] - d_box[None, :, :2] - d_box[None, :, 2:]) * 0.5
    centre = np.hypot(centre_diff[..., 0], centre_diff[..., 1]) / t_size
    # logs keep far pairs far apart for the linear model (a clip would make them all alike)
    mean_dist = np.where(n_shared > 0, (np.minimum(dist, 10.0) * shared).sum(-1) / safe_n, centre)
    log_dist = np.log(0.02 + mean_dist)
    pck = ((dist < 0.1) & shared).sum(-1) / safe_n
    # OKS with the box area as the object area (COCO uses the segment area)
    area = np.maximum((t_box[:, 2] - t_box[:, 0]) * (t_box[:, 3] - t_box[:, 1]), 1.0)
    oks = (np.exp(d2 * (-1.0 / (area[:, None, None] * _OKS_DENOM))) * shared).sum(-1) / safe_n
    log_gap = np.log(gap)
    return [oks, log_dist, pck, _iou(t_box, d_box), n_shared / np.maximum(n_any, 1),
            np.abs(np.log(d_size / t_size)), np.log(0.02 + centre), log_gap,
            n_shared / NUM_KEYPOINTS, log_dist * log_gap,
            np.log(tracks.hits.astype(float))[:, None]]


def _pose_arrays(poses: Sequence[Pose]) -> Tuple[np.ndarray, np.ndarray]:
    if not poses:
        return np.zeros((0, NUM_KEYPOINTS, 2)), np.zeros((0, NUM_KEYPOINTS), bool)
    kps = np.stack([p.keypoints for p in poses]).astype(np.float64)
    return kps[..., :2], kps[..., 2] > 0


class _LinearModel:
    """The logistic model folded into one weight per raw feature (no standardising per call)."""

    def __init__(self, config: TrackerConfig):
        std = np.asarray(config.feature_std, float)
        self.coef = [float(c) for c in np.asarray(config.weights, float) / std]
        self.const = float(config.bias - np.dot(self.coef, np.asarray(config.feature_mean, float)))

    def logits(self, features: list) -> np.ndarray:
        total = self.const
        for c, f in zip(self.coef, features):
            total = total + c * f
        return np.clip(total, -_LOGIT_CLIP, _LOGIT_CLIP)


def _assign(logit: np.ndarray, gate_logit: float):
    """(track rows, detection columns) of the links that maximise the summed log-odds
    margin over the gate, sum(logit - gate_logit): a link is worth making only if its
    log-odds beat the gate, which is the score of leaving both sides unlinked."""
    # A pair under the gate costs 0, the same as no link, so a complete assignment on these
    # costs is an optimal partial matching once its zero-gain pairs are dropped. (Giving
    # gated pairs a huge cost instead makes the solver maximise the *number* of links.)
    gain = logit - gate_logit
    rows, cols = linear_sum_assignment(np.minimum(-gain, 0.0))
    linked = gain[rows, cols] > 0
    return rows[linked], cols[linked]


def _gate_logit(config: TrackerConfig) -> float:
    return math.log(config.min_probability / (1.0 - config.min_probability))


# --------------------------------------------------------------------------------------
# The tracker

class PoseTracker:
    """Online tracker: call `update(poses)` once per frame, in order."""

    def __init__(self, config: Optional[TrackerConfig] = None):
        self.config = config or load_tracker_config()
        self._model = _LinearModel(self.config)
        self.reset()

    def _forget_lost(self, frame: int) -> None:
        recent = self.tracks.recent(frame, self.config.max_lost_frames)
        if not recent.all():
            self.tracks.keep(recent)

    def reset(self) -> None:
        self.tracks = _Tracks()
        self.frame = -1
        self._next_id = 0

    def probabilities(self, poses: Sequence[Pose]) -> np.ndarray:
        """[T, D] P(same person) of the current candidate tracks vs `poses` at the next frame."""
        xy, ok = _pose_arrays(poses)
        self._forget_lost(self.frame + 1)
        if not len(self.tracks) or not len(poses):
            return np.zeros((len(self.tracks), len(poses)))
        feats = _feature_list(self.tracks, xy, ok, self.frame + 1, self.config.joint_memory_frames)
        return 1.0 / (1.0 + np.exp(-self._model.logits(feats)))

    def update(self, poses: Sequence[Pose]) -> List[Pose]:
        """Assign a track id to every pose of the next frame; returns new `Pose` objects."""
        self.frame += 1
        cfg = self.config
        xy, ok = _pose_arrays(poses)
        self._forget_lost(self.frame)
        tracks = self.tracks
        ids = np.full(len(poses), -1, np.int64)
        if len(tracks) and len(poses):
            logit = self._model.logits(_feature_list(tracks, xy, ok, self.frame, cfg.joint_memory_frames))
            rows, cols = _assign(logit, _gate_logit(cfg))
            tracks.update(rows, xy[cols], ok[cols], self.frame, cfg)
            ids[cols] = tracks.ids[rows]
        new = np.flatnonzero(ids < 0)
        if len(new):
            ids[new] = np.arange(self._next_id, self._next_id + len(new))
            self._next_id += len(new)
            tracks.add(ids[new], xy[new], ok[new], self.frame)
        return [Pose(p.keypoints, p.score, int(i)) for p, i in zip(poses, ids)]


def track_sequence(frames: Sequence[Sequence[Pose]], config: Optional[TrackerConfig] = None) -> List[List[Pose]]:
    """Track a whole sequence with a fresh tracker (pure: same input, same ids)."""
    tracker = PoseTracker(config)
    return [tracker.update(poses) for poses in frames]
