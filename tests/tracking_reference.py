"""Plain NumPy implementation of the tracker's compiled per-frame work (pose_tf/tracking/cpp).

The numpy tracker as it was before the kernel (pair features, logits, scipy's Hungarian
assignment, track update), kept as the reference the tests pin the C++ core to.
`ReferenceTracker` is the whole tracker on it: `PoseTracker` with the compiled steps
swapped for these.
"""
import numpy as np
from scipy.optimize import linear_sum_assignment

from pose_tf.core.keypoints import COCO_SIGMAS, NUM_KEYPOINTS
from pose_tf.tracking.tracker import _LOGIT_CLIP, FEATURES, PoseTracker, _Tracks

OKS_DENOM = 2 * (2 * COCO_SIGMAS.astype(np.float64)) ** 2
COLUMN = {name: i for i, name in enumerate(FEATURES)}


def predict_ref(tracks, frame, joint_memory):
    """(gap [T], xy [T, 2, 17], ok [T, 17]) of the tracks moved by their velocity to `frame`."""
    gap = frame - tracks.last
    return gap, tracks.xy + (tracks.velocity * gap[:, None])[..., None], tracks.age <= joint_memory


def boxes_ref(xy, ok):
    """[N, 4] x0y0x1y1 boxes of the ok joints of [N, 2, 17] poses (0-size if none)."""
    xy = np.where(ok[:, None], xy, np.nan)      # fmin and fmax skip NaN
    box = np.concatenate([np.fmin.reduce(xy, -1), np.fmax.reduce(xy, -1)], 1)
    box[np.isnan(box)] = 0.0
    return box


def area_ref(box):
    return (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])


def iou_ref(a, b):
    wh = np.maximum(np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2]), 0.0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / np.maximum(area_ref(a)[:, None] + area_ref(b)[None] - inter, 1e-9)


def pair_features_ref(tracks, det_xy, det_ok, frame, joint_memory):
    """[T, D, F] features of every (track, detection) pair, tracks predicted to `frame`."""
    gap, t_xy, t_ok = predict_ref(tracks, frame, joint_memory)
    t_box, d_box = boxes_ref(t_xy, t_ok), boxes_ref(det_xy, det_ok)
    out = np.empty((len(t_xy), len(det_xy), len(FEATURES)))
    size_t = np.maximum(np.hypot(t_box[:, 2] - t_box[:, 0], t_box[:, 3] - t_box[:, 1]), 1.0)
    size_d = np.maximum(np.hypot(d_box[:, 2] - d_box[:, 0], d_box[:, 3] - d_box[:, 1]), 1.0)
    shift = (t_box[:, None, :2] + t_box[:, None, 2:]) - (d_box[None, :, :2] + d_box[None, :, 2:])
    centre = np.hypot(shift[..., 0], shift[..., 1]) * (0.5 / size_t[:, None])
    out[..., COLUMN["box_iou"]] = iou_ref(t_box, d_box)
    out[..., COLUMN["scale_change"]] = np.abs(np.log(size_d)[None] - np.log(size_t)[:, None])
    out[..., COLUMN["log_centre_dist"]] = np.log(0.02 + centre)

    shared = t_ok[:, None] & det_ok[None]                                  # [T, D, 17]
    n_shared = shared.sum(-1)
    d2 = ((t_xy[:, None] - det_xy[None]) ** 2).sum(-2)                     # pixels^2
    t_area = np.maximum(area_ref(t_box), 1.0)
    oks = np.exp(np.maximum(-d2 / (t_area[:, None, None] * OKS_DENOM), -50.0))
    dist = np.sqrt(d2) / size_t[:, None, None]
    n = np.maximum(n_shared, 1)
    out[..., COLUMN["oks"]] = (oks * shared).sum(-1) / n
    out[..., COLUMN["pck"]] = ((dist < 0.1) * shared).sum(-1) / n
    mean_dist = (np.minimum(dist, 10.0) * shared).sum(-1) / n
    log_dist = np.log(0.02 + np.where(n_shared > 0, mean_dist, centre))
    out[..., COLUMN["log_dist"]] = log_dist

    n_either = (t_ok[:, None] | det_ok[None]).sum(-1)
    out[..., COLUMN["visibility"]] = n_shared / np.maximum(n_either, 1)
    out[..., COLUMN["shared_fraction"]] = n_shared / NUM_KEYPOINTS
    log_gap = np.log(gap)[:, None]
    out[..., COLUMN["log_gap"]] = log_gap
    out[..., COLUMN["dist_x_gap"]] = log_dist * log_gap
    out[..., COLUMN["log_hits"]] = np.log(tracks.hits)[:, None]
    return out


def logits_ref(features, config):
    """[T, D] log-odds of the logistic model on standardised features, clipped."""
    z = (features - np.asarray(config.feature_mean)) / np.asarray(config.feature_std)
    return np.clip(z @ np.asarray(config.weights) + config.bias, -_LOGIT_CLIP, _LOGIT_CLIP)


def assign_ref(logit, gate_logit):
    """scipy's Hungarian assignment on cost min(gate - logit, 0), zero-gain pairs dropped."""
    gain = logit - gate_logit
    rows, cols = linear_sum_assignment(np.minimum(-gain, 0.0))
    linked = gain[rows, cols] > 0
    return rows[linked], cols[linked]


def update_ref(tracks, rows, xy, ok, frame, config):
    """Link detections (xy [M, 2, 17], ok [M, 17]) to tracks `rows` at `frame`, in place."""
    if len(rows) == 0:
        return
    joints, motion = tracks.joints[rows], tracks.motion[rows]
    t_xy, age, vel, hits = joints[:, :2], joints[:, 2], motion[:, :2], motion[:, 3:]
    gap = frame - motion[:, 2:3]
    known = age < np.inf
    shared = (known & ok)[:, None]
    predicted = t_xy + (vel * gap)[..., None]
    residual = xy - predicted
    shift = (residual * shared).sum(-1) / np.maximum(shared.sum(-1), 1)
    shift *= np.where(hits == 1, 1.0, config.velocity_smoothing)
    b = np.where(known & (hits > 1), config.position_smoothing, 1.0)[:, None]
    joints[:, :2] = predicted + np.where(ok[:, None], b * residual, shift[..., None])
    joints[:, 2] = np.where(ok, 0.0, age + gap)
    motion[:, :2] += shift / gap
    motion[:, 2] = frame
    motion[:, 3] += 1
    tracks.joints[rows] = joints
    tracks.motion[rows] = motion


class ReferenceTracks(_Tracks):
    def update(self, rows, cols, xy, ok, frame, config):
        update_ref(self, rows, xy[cols], ok[cols], frame, config)


class ReferenceTracker(PoseTracker):
    """`PoseTracker` on the numpy reference: same bookkeeping, numpy features, logits,
    scipy assignment and numpy track update."""

    def reset(self):
        super().reset()
        self.tracks = ReferenceTracks()

    def _logits(self, xy, ok, frame):
        features = pair_features_ref(self.tracks, xy, ok, frame, self.config.joint_memory_frames)
        return logits_ref(features, self.config)

    def _match(self, xy, ok):
        return assign_ref(self._logits(xy, ok, self.frame), self._gate)
