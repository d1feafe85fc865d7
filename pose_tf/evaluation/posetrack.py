"""PoseTrack metrics as the official poseval tool computes them, plus IDF1 and ID switches.

Per frame, every predicted person is compared with every ground-truth person joint by
joint: a joint matches when its distance is at most 0.5 x the GT head size (PCKh@0.5,
head size = 0.6 x head-rectangle diagonal). Each prediction keeps only its best GT person
(by fraction of matched joints) and each GT person the best of those predictions.

- mAP: per joint, every predicted joint is a detection scored by its confidence, a true
  positive if its person was assigned to a GT person and the joint matched; AP as VOC
  (interpolated) over all frames, then the mean over joints.
- MOTA: per joint and sequence, a `motmetrics` accumulator sees the GT track ids and the
  predicted track ids having that joint, with PCKh distances where the joint matched (no
  match elsewhere); counts are summed over sequences, MOTA = 1 - (misses + switches + FP)
  / objects per joint, and the total is the mean over joints. IDF1 (from the same
  accumulators' idtp/idfp/idfn) likewise; IDSW is the sum of switches over joints.

Reproduced poseval details (so figures compare with published ones; `poseval_quirks=False`
turns off the last two): GT frames without people are skipped, with the prediction of
that frame; points inside ignore regions are removed from both sides; MOT skips the last
frame of each sequence (`imgidxs[:-1]`); a frame with GT but no prediction counts one miss
and one false positive per joint (a phantom id 0 on both sides).

All figures are fractions (1.0 = perfect), not percentages.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence as Seq

import numpy as np

from ..core.errors import PoseTfError
from ..io.posetrack import Person, Sequence, head_size

PCKH_THRESHOLD = 0.5
MIN_SCORE = -9999.0   # poseval's score for a predicted joint without a score


# --------------------------------------------------------------------------------------
# Pairing sequences, frames and joints

def pair_sequences(gt: List[Sequence], pred: List[Sequence]):
    """(gt, pred) pairs: the single pair when each side has one, else by file name (as
    poseval pairs two folders) when every GT file has a namesake, else by sequence name."""
    import os

    if len(gt) == 1 and len(pred) == 1:
        return [(gt[0], pred[0])]
    by_file = {os.path.basename(p.source): p for p in pred if p.source}
    if len(by_file) == len(pred) and all(os.path.basename(g.source) in by_file for g in gt):
        return [(g, by_file[os.path.basename(g.source)]) for g in gt]
    by_name = {p.name: p for p in pred}
    pairs = []
    for g in gt:
        if g.name not in by_name:
            raise PoseTfError(f"no prediction for sequence {g.name!r} (from {g.source or 'GT'})")
        pairs.append((g, by_name[g.name]))
    return pairs


def pair_frames(gt: Sequence, pred: Sequence):
    """Frames of `pred` in the order of `gt`: by image file name when both sides have
    distinct names, else by position (poseval requires equal frame counts)."""
    import os

    def key(f):
        return os.path.basename(f.file_name)

    gt_keys, pr_keys = [key(f) for f in gt.frames], [key(f) for f in pred.frames]
    if all(gt_keys) and all(pr_keys) and len(set(pr_keys)) == len(pr_keys) and set(gt_keys) <= set(pr_keys):
        index = {k: f for k, f in zip(pr_keys, pred.frames)}
        return [(g, index[k]) for g, k in zip(gt.frames, gt_keys)]
    if len(gt.frames) != len(pred.frames):
        raise PoseTfError(
            f"sequence {gt.name!r}: {len(pred.frames)} predicted frames but {len(gt.frames)} "
            f"GT frames, and the file names do not match ({pred.source or 'prediction'})")
    return list(zip(gt.frames, pred.frames))


def shared_joints(gt: List[Sequence], pred: List[Sequence]):
    """Joint names both sides declare, minus those no prediction ever contains.

    Returns (names, excluded) where `excluded` maps a name to the reason it is left out.
    """
    gt_names = _common_names(gt, "GT")
    pr_names = _common_names(pred, "prediction")
    names = [n for n in gt_names if n in pr_names]
    predicted = set()
    for s in pred:
        for f in s.frames:
            for p in f.people:
                predicted.update(n for n, ok in zip(s.joint_names, p.present) if ok)
    excluded = {n: "not in the prediction's joints" for n in gt_names if n not in pr_names}
    excluded.update({n: "never predicted" for n in names if n not in predicted})
    names = [n for n in names if n in predicted]
    if not names:
        raise PoseTfError("GT and prediction share no predicted joint names "
                          f"(GT: {', '.join(gt_names)}; prediction: {', '.join(pr_names)})")
    return names, excluded


def _common_names(seqs: List[Sequence], what: str):
    if not seqs:
        raise PoseTfError(f"no {what} sequences")
    names = list(seqs[0].joint_names)
    for s in seqs[1:]:
        names = [n for n in names if n in s.joint_names]
    return names


# --------------------------------------------------------------------------------------
# One frame: poseval's assignGTmulti, vectorised

@dataclass
class _FrameArrays:
    xy: np.ndarray        # [N, J, 2]
    has: np.ndarray       # [N, J] bool
    track: list           # [N]
    score: np.ndarray     # [N, J] (predictions)
    head: np.ndarray      # [N] head sizes (GT)


def _frame_arrays(people: List[Person], names: Seq[str], joints: Seq[str], regions,
                  is_gt: bool, where: str) -> _FrameArrays:
    cols = [list(names).index(j) for j in joints]
    xy, has, track, score, head = [], [], [], [], []
    for k, p in enumerate(people):
        present = p.present
        if regions:                 # poseval removes points inside ignore regions ...
            present = present & ~_inside_any(p.keypoints[:, :2], regions)
        if not present.any():       # ... and people left without points
            continue
        h = present[cols]
        pts = p.keypoints[cols, :2]
        if p.track_id is None:
            raise PoseTfError(f"{where}: person {k} has no track_id")
        if is_gt:
            if p.head_rect is None:
                raise PoseTfError(f"{where}: GT person {k} has no head rectangle (needed for PCKh)")
            head.append(head_size(p.head_rect))
        xy.append(pts)
        has.append(h)
        track.append(int(p.track_id))
        sc = p.scores[cols] if p.scores is not None else np.full(len(cols), MIN_SCORE)
        score.append(sc)
    n, j = len(xy), len(joints)
    return _FrameArrays(np.asarray(xy, float).reshape(n, j, 2), np.asarray(has, bool).reshape(n, j),
                        track, np.asarray(score, float).reshape(n, j), np.asarray(head, float))


def _inside_any(points: np.ndarray, regions) -> np.ndarray:
    """Boolean [N]: points strictly inside any polygon (even-odd rule)."""
    inside = np.zeros(len(points), bool)
    for poly in regions:
        x, y = points[:, 0:1], points[:, 1:2]
        x0, y0 = poly[:, 0], poly[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside |= (np.sum(crosses & (x < xc), axis=1) % 2).astype(bool)
    return inside


def _assign_frame(gt: _FrameArrays, pr: _FrameArrays):
    """poseval's per-frame matching. Returns (match [P,G,J], dist [P,G,J], prToGT [G])."""
    n_pr, n_gt = len(pr.track), len(gt.track)
    both = pr.has[:, None, :] & gt.has[None, :, :]
    d = np.linalg.norm(pr.xy[:, None] - gt.xy[None], axis=-1) / gt.head[None, :, None]
    dist = np.where(both, d, np.inf)
    match = dist <= PCKH_THRESHOLD
    n_gt_joints = gt.has.sum(1)
    pck = match.sum(2).astype(float)
    pck = np.where(n_gt_joints[None, :] > 0, pck / np.maximum(n_gt_joints[None, :], 1), pck)
    # each prediction keeps only its best GT person ...
    best = np.argmax(pck, axis=1)
    keep = np.zeros_like(pck)
    keep[np.arange(n_pr), best] = pck[np.arange(n_pr), best]
    # ... and each GT person takes the best of the predictions left to it
    pr_to_gt = np.argmax(keep, axis=0)
    pr_to_gt[np.max(keep, axis=0) == 0] = -1
    assert n_gt == len(pr_to_gt)
    return match, dist, pr_to_gt


# --------------------------------------------------------------------------------------
# Whole evaluation

def evaluate(gt: List[Sequence], pred: List[Sequence], joints: Optional[Seq[str]] = None,
             poseval_quirks: bool = True, compute_ap: bool = True) -> dict:
    """Metrics of `pred` against `gt` (lists of sequences). See the module docstring."""
    import motmetrics as mm

    if joints is None:
        joints, excluded = shared_joints(gt, pred)
    else:
        excluded = {}
        for s in gt + pred:
            missing = [j for j in joints if j not in s.joint_names]
            if missing:
                raise PoseTfError(f"sequence {s.name!r} ({s.source or '?'}) has no joint {missing[0]!r}")
    joints = list(joints)
    nj = len(joints)
    ap_scores = [[] for _ in range(nj)]
    ap_labels = [[] for _ in range(nj)]
    n_gt_joints = np.zeros(nj)
    mot_names = ["num_misses", "num_switches", "num_false_positives", "num_objects",
                 "num_detections", "idtp", "idfp", "idfn"]
    totals = {k: np.zeros(nj) for k in mot_names + ["sumD"]}
    mh = mm.metrics.create()
    n_frames = 0
    for g_seq, p_seq in pair_sequences(gt, pred):
        accs = [mm.MOTAccumulator(auto_id=True) for _ in range(nj)]
        frames = [(g, p) for g, p in pair_frames(g_seq, p_seq) if g.people]  # cleanupData
        for index, (g_frame, p_frame) in enumerate(frames):
            where = f"{g_seq.name} frame {g_frame.file_name or g_frame.frame_id}"
            regions = g_frame.ignore_regions
            ga = _frame_arrays(g_frame.people, g_seq.joint_names, joints, regions, True, f"GT {where}")
            pa = _frame_arrays(p_frame.people, p_seq.joint_names, joints, regions, False,
                               f"prediction {where}")
            if not ga.track:
                continue
            n_frames += 1
            n_gt_joints += ga.has.sum(0)
            mot = _score_frame(ga, pa, ap_scores, ap_labels, poseval_quirks)
            last = index == len(frames) - 1
            if poseval_quirks and last:
                continue           # poseval: imgidxs[:-1]
            for j in range(nj):
                gt_ids, pr_ids, dist = mot[j]
                accs[j].update(gt_ids, pr_ids, dist)
        for j in range(nj):
            m = mh.compute(accs[j], metrics=mot_names, return_dataframe=False, name="acc")
            for k in mot_names:
                totals[k][j] += float(m[k])
            d = accs[j].events["D"].sum() if len(accs[j].events) else 0.0
            totals["sumD"][j] += 0.0 if np.isnan(d) else float(d)
    if n_frames == 0:
        raise PoseTfError("no labelled GT frame to evaluate")
    out = _final_metrics(joints, totals)
    if compute_ap:
        ap = np.array([_average_precision(np.concatenate(ap_scores[j]) if ap_scores[j] else np.zeros(0),
                                          np.concatenate(ap_labels[j]) if ap_labels[j] else np.zeros(0),
                                          n_gt_joints[j]) for j in range(nj)])
        out["per_joint"]["AP"] = _listed(ap)
        out["mAP"] = float(np.nanmean(ap))
    out.update(joints=joints, excluded_joints=excluded, frames=n_frames,
               sequences=len(gt), poseval_quirks=poseval_quirks)
    return out


def _score_frame(ga: _FrameArrays, pa: _FrameArrays, ap_scores, ap_labels, quirks: bool):
    """AP detections of one frame (appended in place) and the per-joint MOT input."""
    nj = ga.has.shape[1]
    if not pa.track:
        # poseval: a frame with GT but no prediction gets a phantom id 0 on both sides
        if quirks:
            return [([0], [0], np.full((1, 1), np.nan)) for _ in range(nj)]
        return [([t for t, h in zip(ga.track, ga.has[:, j]) if h], [], np.zeros((int(ga.has[:, j].sum()), 0)))
                for j in range(nj)]
    match, dist, pr_to_gt = _assign_frame(ga, pa)
    for p in range(len(pa.track)):
        assigned = np.flatnonzero(pr_to_gt == p)
        labels = match[p, assigned[0]] if assigned.size else np.zeros(nj, bool)
        for j in np.flatnonzero(pa.has[p]):
            ap_scores[j].append(pa.score[p, j:j + 1])
            ap_labels[j].append(labels[j:j + 1].astype(float))
    mot = []
    for j in range(nj):
        gi, pi = np.flatnonzero(ga.has[:, j]), np.flatnonzero(pa.has[:, j])
        d = dist[np.ix_(pi, gi, [j])][..., 0].T       # [G_j, P_j]
        m = match[np.ix_(pi, gi, [j])][..., 0].T
        mot.append(([ga.track[i] for i in gi], [pa.track[i] for i in pi], np.where(m, d, np.nan)))
    return mot


def _average_precision(scores: np.ndarray, labels: np.ndarray, n_gt: float) -> float:
    """poseval's computeRPC + VOCap (all-point interpolated AP)."""
    if len(scores) == 0 or n_gt == 0:
        return 0.0 if n_gt > 0 else float("nan")
    order = np.argsort(scores, kind="stable")[::-1]
    tp = np.cumsum(labels[order] == 1)
    recall = tp / n_gt
    precision = tp / np.arange(1, len(order) + 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def _final_metrics(joints, t: Dict[str, np.ndarray]) -> dict:
    with np.errstate(divide="ignore", invalid="ignore"):
        objects = np.where(t["num_objects"] > 0, t["num_objects"], np.nan)
        mota = 1.0 - (t["num_misses"] + t["num_switches"] + t["num_false_positives"]) / objects
        det = t["num_detections"]
        motp = np.where((det == 0) | np.isnan(t["sumD"]), 0.0, 1.0 - t["sumD"] / np.maximum(det, 1))
        precision = det / np.where(det + t["num_false_positives"] > 0, det + t["num_false_positives"], np.nan)
        recall = det / objects
        idf1 = 2 * t["idtp"] / (2 * t["idtp"] + t["idfp"] + t["idfn"])
    per_joint = {"joint": list(joints), "MOTA": _listed(mota), "MOTP": _listed(motp),
                 "precision": _listed(precision), "recall": _listed(recall),
                 "IDF1": _listed(idf1), "IDSW": [int(v) for v in t["num_switches"]],
                 "misses": [int(v) for v in t["num_misses"]],
                 "false_positives": [int(v) for v in t["num_false_positives"]],
                 "objects": [int(v) for v in t["num_objects"]]}
    return {"MOTA": float(np.nanmean(mota)), "MOTP": float(np.nanmean(motp)),
            "precision": float(np.nanmean(precision)), "recall": float(np.nanmean(recall)),
            "IDF1": float(np.nanmean(idf1)), "IDSW": int(t["num_switches"].sum()),
            "per_joint": per_joint}


def _listed(values) -> list:
    return [None if np.isnan(v) else float(v) for v in np.asarray(values, float)]


def format_table(metrics: dict) -> str:
    """Per-joint table plus the totals, as printed by `pose-tf evaluate-tracking`."""
    pj = metrics["per_joint"]
    cols = ["MOTA", "IDF1", "IDSW", "MOTP", "precision", "recall"] + (["AP"] if "AP" in pj else [])
    lines = [f"{'joint':<16}" + "".join(f"{c:>10}" for c in cols)]

    def cell(v):
        if v is None:
            return f"{'-':>10}"
        return f"{v:>10d}" if isinstance(v, int) else f"{v:>10.3f}"

    for i, name in enumerate(pj["joint"]):
        lines.append(f"{name:<16}" + "".join(cell(pj[c][i]) for c in cols))
    total = {"MOTA": metrics["MOTA"], "IDF1": metrics["IDF1"], "IDSW": metrics["IDSW"],
             "MOTP": metrics["MOTP"], "precision": metrics["precision"],
             "recall": metrics["recall"], "AP": metrics.get("mAP")}
    lines.append(f"{'total':<16}" + "".join(cell(total[c]) for c in cols))
    return "\n".join(lines)
