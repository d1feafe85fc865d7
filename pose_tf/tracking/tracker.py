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
#
# The tracker's cost is the number of numpy calls per frame, not their size (a frame has a
# few people), so the code below keeps that number small: poses are [N, 2, 17] arrays
# (x row, y row) so that reductions run over the joints, the last axis; tracks and
# detections share calls; a track's state is two packed arrays.

class _Tracks:
    """All tracks' state, one row per track: `joints` [T, 3, 17] holds each joint's
    template position (x, y: where it was last seen, moved with the body since) and its
    age (frames since it was seen, inf: never); `motion` [T, 4] the smoothed whole-body
    velocity (px per frame), the frame the track was last seen and its detection count.
    Linking a frame's detections then gathers and scatters two arrays."""

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
        if len(self) and frame - self.last.min() > max_lost + 1:      # one cheap test per frame
            recent = frame - self.last <= max_lost + 1
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

    def update(self, rows, xy, ok, frame: int, config: "TrackerConfig") -> None:
        """Link detections (xy [M, 2, 17], ok [M, 17]) to tracks `rows` at `frame`."""
        if len(rows) == 0:
            return
        joints, motion = self.joints[rows], self.motion[rows]
        t_xy, age, vel, hits = joints[:, :2], joints[:, 2], motion[:, :2], motion[:, 3:]
        gap = frame - motion[:, 2:3]                                         # [M, 1]
        known = age < np.inf
        shared = (known & ok)[:, None]
        predicted = t_xy + (vel * gap)[..., None]
        residual = xy - predicted
        # The body's displacement error, the residual averaged over the joints the track
        # and the detection share (rigid: averaging cancels most per-joint noise), 0 if none.
        # A track's first link takes all of it as its velocity, later ones smooth it in.
        shift = np.vecdot(residual, shared.astype(float)) / np.maximum(shared.sum(-1), 1)
        shift *= np.where(hits == 1, 1.0, config.velocity_smoothing)
        # joints seen now blend prediction and detection; unseen ones move with the body
        b = np.where(known & (hits > 1), config.position_smoothing, 1.0)[:, None]
        joints[:, :2] = predicted + np.where(ok[:, None], b * residual, shift[..., None])
        joints[:, 2] = np.where(ok, 0.0, age + gap)
        motion[:, :2] += shift / gap
        motion[:, 2] = frame
        motion[:, 3] += 1
        self.joints[rows] = joints
        self.motion[rows] = motion


def _boxes(xy: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """[N, 4] boxes (x0, y0, x1, y1) of the ok joints of [N, 2, 17] poses (0-size if none)."""
    xy = np.where(ok[:, None], xy, np.nan)      # fmin and fmax skip NaN
    box = np.concatenate([np.fmin.reduce(xy, -1), np.fmax.reduce(xy, -1)], 1)
    box[np.isnan(box)] = 0.0                    # a pose without joints
    return box


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[A, B] IoU of x0y0x1y1 boxes."""
    return _iou_of(a, b, _area(a), _area(b))


def _area(box: np.ndarray) -> np.ndarray:
    wh = box[:, 2:] - box[:, :2]
    return wh[:, 0] * wh[:, 1]


def _iou_of(a, b, area_a, area_b) -> np.ndarray:
    """[A, B] IoU of x0y0x1y1 boxes whose areas are known."""
    wh = np.maximum(np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2]), 0.0)
    inter = wh[..., 0] * wh[..., 1]
    # inter <= union, so the floor only turns 0 / 0 (two empty boxes) into 0
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


_OKS_DENOM = 2 * (2 * COCO_SIGMAS.astype(np.float64)) ** 2
_COLUMN = {name: i for i, name in enumerate(FEATURES)}
assert FEATURES[:3] == ("oks", "log_dist", "pck")      # _joint_features fills them at once


def predict(tracks: _Tracks, frame: int, joint_memory: int):
    """(gap [T], xy [T, 2, 17], ok [T, 17]): frames since each track was seen, its joints
    moved by its constant velocity to `frame`, and the joints its template still holds."""
    gap = frame - tracks.last
    return gap, tracks.xy + (tracks.velocity * gap[:, None])[..., None], tracks.age <= joint_memory


def pair_features(tracks: _Tracks, det_xy: np.ndarray, det_ok: np.ndarray, frame: int,
                  joint_memory: int) -> np.ndarray:
    """[T, D, F] features of every (track, detection) pair, tracks predicted to `frame`."""
    n = len(tracks)
    gap, t_xy, t_ok = predict(tracks, frame, joint_memory)
    box = _boxes(np.concatenate([t_xy, det_xy]), np.concatenate([t_ok, det_ok]))   # one call for both
    out = np.empty((n, len(det_xy), len(FEATURES)))
    inv_size, t_area, centre = _box_features(out, box, n)
    n_shared = _joint_features(out, t_xy, t_ok, det_xy, det_ok, inv_size, t_area, centre)
    n_either = (t_ok[:, None] | det_ok[None]).sum(-1)
    out[..., _COLUMN["visibility"]] = n_shared / np.maximum(n_either, 1)
    out[..., _COLUMN["shared_fraction"]] = n_shared * (1.0 / NUM_KEYPOINTS)
    log_gap = np.log(gap)[:, None]
    out[..., _COLUMN["log_gap"]] = log_gap
    out[..., _COLUMN["dist_x_gap"]] = out[..., _COLUMN["log_dist"]] * log_gap
    out[..., _COLUMN["log_hits"]] = np.log(tracks.hits)[:, None]
    return out


def _box_features(out, box, n: int):
    """Fills the box features of tracks box[:n] vs detections box[n:]; returns the tracks'
    1 / size and area ([T, 1]) and the box-centre distances over track size ([T, D])."""
    wh = box[:, 2:] - box[:, :2]
    w, h = wh[:, 0], wh[:, 1]
    size = np.maximum(np.hypot(w, h), 1.0)                   # person size: the box diagonal
    log_size = np.log(size)
    area = w * h
    inv_size = 1.0 / size[:n, None]
    mid = box[:, :2] + box[:, 2:]                            # twice the box centre
    shift = mid[:n, None] - mid[None, n:]
    centre = np.hypot(shift[..., 0], shift[..., 1]) * (0.5 * inv_size)
    out[..., _COLUMN["box_iou"]] = _iou_of(box[:n], box[n:], area[:n], area[n:])
    out[..., _COLUMN["scale_change"]] = np.abs(log_size[None, n:] - log_size[:n, None])
    out[..., _COLUMN["log_centre_dist"]] = np.log(0.02 + centre)
    return inv_size, np.maximum(area[:n], 1.0)[:, None], centre


def _joint_features(out, t_xy, t_ok, det_xy, det_ok, inv_size, t_area, centre) -> np.ndarray:
    """Fills the per-joint features (OKS, distances, PCK); returns the shared joints' counts."""
    shared = (t_ok[:, None] & det_ok[None]).astype(float)                  # [T, D, 17]
    n_shared = shared.sum(-1)
    diff = t_xy[:, None] - det_xy[None]                                    # [T, D, 2, 17]
    diff *= diff
    d2 = diff[:, :, 0] + diff[:, :, 1]                                     # pixels^2
    # the three per-joint terms side by side, averaged over the shared joints in one call
    terms = np.empty((3,) + d2.shape)
    # OKS with the box area as the object area (COCO uses the segment area); exponents are
    # floored at -50 because exp's underflow path is slow (e^-50 adds nothing to a sum)
    e = d2 * (-1.0 / (t_area * _OKS_DENOM))[:, None]
    np.exp(np.maximum(e, -50.0, out=e), out=terms[0])
    dist = np.sqrt(d2, out=terms[1])
    dist *= inv_size[..., None]
    np.less(dist, 0.1, out=terms[2])                                       # PCK@0.1
    np.minimum(dist, 10.0, out=dist)
    means = np.vecdot(terms, shared) / np.maximum(n_shared, 1)
    out[..., :3] = means.transpose(1, 2, 0)
    # logs keep far pairs far apart for the linear model (a clip would make them all alike)
    out[..., 1] = np.log(0.02 + np.where(n_shared > 0, out[..., 1], centre))
    return n_shared


def _pose_arrays(poses: Sequence[Pose]) -> Tuple[np.ndarray, np.ndarray]:
    """(xy [N, 2, 17], ok [N, 17]) of `poses`."""
    if not poses:
        return np.zeros((0, 2, NUM_KEYPOINTS)), np.zeros((0, NUM_KEYPOINTS), bool)
    # one copy into the layout and dtype of the tracks: views or mixed dtypes would make
    # every later numpy call iterate element by element
    kps = np.array([p.keypoints.T for p in poses], np.float64)              # [N, 3, 17]
    return kps[:, :2], kps[:, 2] > 0


class _LinearModel:
    """The logistic model folded into one weight per raw feature (no standardising per call)."""

    def __init__(self, config: TrackerConfig):
        std = np.asarray(config.feature_std, float)
        self.coef = np.asarray(config.weights, float) / std
        self.const = float(config.bias - np.dot(self.coef, np.asarray(config.feature_mean, float)))

    def logits(self, features: np.ndarray) -> np.ndarray:
        """[T, D] log-odds from [T, D, F] features."""
        return np.minimum(np.maximum(np.vecdot(features, self.coef) + self.const, -_LOGIT_CLIP), _LOGIT_CLIP)


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
        self._gate = _gate_logit(self.config)
        self.reset()

    def reset(self) -> None:
        self.tracks = _Tracks()
        self.frame = -1
        self._next_id = 0

    def _logits(self, xy, ok, frame: int) -> np.ndarray:
        """[T, D] log-odds of the tracks vs detections xy, ok at `frame`."""
        features = pair_features(self.tracks, xy, ok, frame, self.config.joint_memory_frames)
        return self._model.logits(features)

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
            tracks.update(rows, xy[cols], ok[cols], self.frame, self.config)
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
