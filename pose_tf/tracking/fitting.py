"""Fitting the tracker: its logistic weights and gate from annotated tracks.

`fit_tracker` (`pose-tf fit-tracker`) makes noisy versions of annotated sequences with the
detector-noise simulator, collects the features of every (track, detection) pair an online
tracker would score, fits an L2-regularised logistic regression on them and picks the gate
(`min_probability`) with the best identity scores.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence, Tuple

import numpy as np

from ..core.pose import Pose
from .simulator import DetectorNoise, NoiseLevel
from .tracker import FEATURES, TrackerConfig, _pose_arrays, _Tracks, pair_features, track_sequence


GATES = (0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5)      # min_probability values tried


def training_pairs(frames: Sequence[Sequence[Pose]], labels: Sequence[Sequence[int]],
                   config: TrackerConfig) -> Tuple[np.ndarray, np.ndarray]:
    """Features and same-person labels of every (track, detection) pair the tracker would
    score, with tracks kept by the true identities (teacher forcing) so that the pairs have
    the distribution an online tracker meets: predicted positions, gaps, lost tracks."""
    tracks = _Tracks()
    feats, same = [], []
    next_spurious = -2
    for frame, (poses, ids) in enumerate(zip(frames, labels)):
        tracks.forget_lost(frame, config.max_lost_frames)
        xy, ok = _pose_arrays(poses)
        ids = np.asarray(ids, np.int64).copy()
        if len(tracks) and len(poses):
            f = pair_features(tracks, xy, ok, frame, config.joint_memory_frames)
            feats.append(f.reshape(-1, f.shape[-1]))
            same.append(((tracks.labels[:, None] == ids[None]) & (ids[None] >= 0)).reshape(-1))
        for d in np.flatnonzero(ids < 0):     # a spurious detection starts its own (wrong) track
            ids[d], next_spurious = next_spurious, next_spurious - 1
        row_of = {int(lab): r for r, lab in enumerate(tracks.labels)}
        rows = [row_of.get(int(lab), -1) for lab in ids]
        linked = np.array([r >= 0 for r in rows], bool)
        tracks.update(np.array([r for r in rows if r >= 0], np.int64), np.flatnonzero(linked), xy, ok,
                      frame, config)
        if (~linked).any():
            tracks.add(np.zeros((~linked).sum(), np.int64), xy[~linked], ok[~linked], frame, ids[~linked])
    if not feats:
        return np.zeros((0, len(FEATURES))), np.zeros(0, bool)
    return np.concatenate(feats), np.concatenate(same)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3):
    """(weights, bias, mean, std) of an L2-regularised logistic regression on standardised x."""
    from scipy.optimize import minimize

    if len(y) == 0 or y.all() or not y.any():
        raise ValueError("fitting needs both same-person and different-person pairs")
    mean, std = x.mean(0), x.std(0)
    std = np.where(std > 1e-9, std, 1.0)
    z = (x - mean) / std
    t = y.astype(float)

    def loss(params):
        w, b = params[:-1], params[-1]
        s = z @ w + b
        # log(1 + exp(s)) - t * s, numerically stable
        value = np.mean(np.logaddexp(0.0, s) - t * s) + l2 * w @ w
        p = 1.0 / (1.0 + np.exp(-s))
        grad_w = z.T @ (p - t) / len(t) + 2 * l2 * w
        return value, np.append(grad_w, np.mean(p - t))

    res = minimize(loss, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B")
    return res.x[:-1], float(res.x[-1]), mean, std


def identity_scores(tracked: Sequence[Sequence[Pose]], labels: Sequence[Sequence[int]]) -> dict:
    """IDF1, ID switches and MOTA at person level from known detection identities (the
    detections *are* the noisy GT people, so no spatial matching is needed; spurious ones,
    label -1, are false positives; GT people the detector missed are not counted here)."""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    for poses, ids in zip(tracked, labels):
        gt = [i for i in ids if i >= 0]
        hyp = [p.track_id for p in poses]
        dist = np.array([[0.0 if i == j else np.nan for j in ids] for i in gt]).reshape(len(gt), len(ids))
        acc.update(gt, hyp, dist)
    m = mm.metrics.create().compute(acc, metrics=["idf1", "num_switches", "mota"],
                                    return_dataframe=False, name="acc")
    return {"IDF1": float(m["idf1"]), "IDSW": int(m["num_switches"]), "MOTA": float(m["mota"])}


def noisy_detections(sequences: Sequence[Sequence[Sequence[Pose]]], levels: Sequence[NoiseLevel],
                     seed: int = 0) -> list:
    """(detections, labels) of every sequence at every noise level, one noise stream each."""
    out = []
    for li, level in enumerate(levels):
        noise = DetectorNoise(level, seed)
        for si, seq in enumerate(sequences):
            out.append(noise(seq, stream=li * 100003 + si))
    return out


def fit_tracker(sequences: Sequence[Sequence[Sequence[Pose]]], levels: Sequence[NoiseLevel],
                seed: int = 0, base: Optional[TrackerConfig] = None,
                gates: Sequence[float] = GATES, progress=None) -> Tuple[TrackerConfig, dict]:
    """Fit the logistic weights on noisy versions of annotated `sequences` (per sequence,
    per frame, GT poses with track ids), then pick the gate with the best mean IDF1.

    Returns the config and a report (pair counts, training accuracy, gate scores)."""
    return fit_tracker_on(noisy_detections(sequences, levels, seed), base, gates, progress)


def fit_tracker_on(noisy: Sequence, base: Optional[TrackerConfig] = None,
                   gates: Sequence[float] = GATES, progress=None) -> Tuple[TrackerConfig, dict]:
    """`fit_tracker` on given (detections, labels) pairs."""
    n = len(FEATURES)
    cfg = base or TrackerConfig(list(FEATURES), [0.0] * n, 0.0, [0.0] * n, [1.0] * n)
    xs, ys = [], []
    for dets, labels in (progress(noisy, desc="pairs") if progress else noisy):
        x, y = training_pairs(dets, labels, cfg)
        xs.append(x)
        ys.append(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    w, b, mean, std = fit_logistic(x, y)
    cfg = replace(cfg, weights=[float(v) for v in w], bias=float(b),
                  feature_mean=[float(v) for v in mean], feature_std=[float(v) for v in std])
    pred = ((x - mean) / std) @ w + b > 0
    report = {"pairs": int(len(y)), "positive_pairs": int(y.sum()),
              "train_accuracy": float(np.mean(pred == y))}
    gate, report["gates"] = choose_gate(cfg, noisy, gates)
    return replace(cfg, min_probability=gate), report


def choose_gate(config: TrackerConfig, noisy: Sequence, gates: Sequence[float] = GATES):
    """(gate, {gate: mean IDF1 and total IDSW}): the min_probability with the best mean IDF1
    (fewest ID switches on a tie) on (detections, labels) pairs."""
    report, best = {}, None
    for gate in gates:
        trial = replace(config, min_probability=float(gate))
        scores = [identity_scores(track_sequence(d, trial), lab) for d, lab in noisy]
        idf1 = float(np.mean([s["IDF1"] for s in scores]))
        idsw = int(sum(s["IDSW"] for s in scores))
        report[str(gate)] = {"IDF1": idf1, "IDSW": idsw}
        if best is None or (idf1, -idsw) > best[0]:
            best = ((idf1, -idsw), float(gate))
    return best[1], report
