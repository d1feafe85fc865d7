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

Which joints (`joints=`):
- "poseval": poseval's fixed 15 joints, in its order. A joint a side never labels still
  counts as poseval counts it: never predicted -> AP 0 and MOTA 0 (all missed), in the
  means; predicted but never in the GT -> AP undefined, left out of mAP; no GT and no
  prediction -> AP 0, MOTA undefined. Files name joints their own way: Bonn/MPII's
  `upper_neck` is PoseTrack's `head_bottom` (`JOINT_ALIASES`).
- "shared" (the default of `evaluate`): the joints both sides declare and the prediction
  contains, by their own names (pose-tf's earlier figures).
- a list of names.

Reproduced poseval details (so figures compare with published ones; `poseval_quirks=False`
turns off the last two): GT frames without people are skipped, with the prediction of
that frame; points inside ignore regions are removed from both sides, and a frame whose
GT people are all removed is still scored (its predictions are false positives); MOT skips
the last frame of each sequence (`imgidxs[:-1]`); a frame with no GT or no prediction left
counts one miss and one false positive per joint (a phantom id 0 on both sides).

All figures are fractions (1.0 = perfect; `as_percent` gives poseval's percentages);
`None` where a figure is undefined (e.g. MOTA of a joint without GT objects).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence as Seq

import numpy as np

from ..core.errors import PoseTfError
from ..io.posetrack import POSETRACK17_JOINTS, Frame, Person, Sequence, head_size

log = logging.getLogger(__name__)

PCKH_THRESHOLD = 0.5
MIN_SCORE = -9999.0   # poseval's score for a predicted joint without a score
POSEVAL_JOINTS = POSETRACK17_JOINTS       # poseval's eval_helpers.Joint, ids 0..14
JOINT_ALIASES = {"upper_neck": "head_bottom"}
# poseval makes track ids unique across sequences by adding seq_index * MAX_TRACK_ID and
# asserts `track_id < MAX_TRACK_ID` (poseval/eval_helpers.py, load_data_dir, MAX_TRACK_ID =
# 10000 at commit 4258a15); a negative id would collide with the previous sequence's ids.
MAX_TRACK_ID = 10000
RATE_KEYS = ("mAP", "AP", "AP_precision", "AP_recall", "MOTA", "MOTP", "precision", "recall", "IDF1")


# --------------------------------------------------------------------------------------
# Pairing sequences, frames and joints

def pair_sequences(gt: List[Sequence], pred: List[Sequence]):
    """(gt, pred) pairs: the single pair when each side has one, else by file name (as
    poseval pairs two folders) when every GT file has a namesake, else by sequence name."""
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


def pair_frames(gt: Sequence, pred: Sequence, by_position: bool = False):
    """(GT frame, predicted frame) pairs in GT order, by image file name (the base name:
    the two files may root their paths differently). Every frame of each side must have a
    namesake on the other. `by_position`: pair the n-th frames instead (what poseval does,
    blind to names), with a warning."""
    if by_position:
        if len(gt.frames) != len(pred.frames):
            raise PoseTfError(f"{pred.source or 'prediction'}: {len(pred.frames)} frames, but "
                              f"{gt.source or 'GT'} has {len(gt.frames)} (pairing by position)")
        log.warning("%s: frames paired by position with %s, not by file name",
                    pred.source or "prediction", gt.source or "GT")
        return list(zip(gt.frames, pred.frames))
    gt_by_name = _frames_by_name(gt, "GT")
    pr_by_name = _frames_by_name(pred, "prediction")
    hint = "(pair frames by position only if you must: --pair-frames position)"
    for name in pr_by_name:
        if name not in gt_by_name:
            raise PoseTfError(f"{pred.source or 'prediction'}: frame {name!r} has no GT frame of "
                              f"that name in {gt.source or 'GT'} {hint}")
    for name in gt_by_name:
        if name not in pr_by_name:
            raise PoseTfError(f"{gt.source or 'GT'}: frame {name!r} has no predicted frame of "
                              f"that name in {pred.source or 'prediction'} {hint}")
    return [(frame, pr_by_name[name]) for name, frame in gt_by_name.items()]


def _frames_by_name(seq: Sequence, what: str) -> Dict[str, Frame]:
    out = {}
    for i, frame in enumerate(seq.frames):
        name = os.path.basename(frame.file_name)
        if not name:
            raise PoseTfError(f"{seq.source or what}: {what} frame {i} has no file name, so it "
                              "cannot be paired by name (--pair-frames position pairs by order)")
        if name in out:
            raise PoseTfError(f"{seq.source or what}: two {what} frames named {name!r}")
        out[name] = frame
    return out


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


def _columns(seq: Sequence, joints: Seq[str]) -> np.ndarray:
    """Index of each joint in the sequence's own joints (an own name first, then an alias
    such as Bonn's upper_neck for head_bottom); -1 where the file has no such joint."""
    index = {}
    for k, name in enumerate(seq.joint_names):
        index.setdefault(name, k)
    for k, name in enumerate(seq.joint_names):
        index.setdefault(JOINT_ALIASES.get(name, name), k)
    return np.array([index.get(j, -1) for j in joints], int)


def _select_joints(gt: List[Sequence], pred: List[Sequence], joints):
    """(joint names, excluded) for `joints` = "shared" / None, "poseval" or a list."""
    if joints is None or joints == "shared":
        return shared_joints(gt, pred)
    if joints == "poseval":
        return list(POSEVAL_JOINTS), {}
    if isinstance(joints, str):
        raise PoseTfError(f"unknown joint selection {joints!r} (poseval, shared or a list of names)")
    for s in gt + pred:
        missing = [j for j, c in zip(joints, _columns(s, joints)) if c < 0]
        if missing:
            raise PoseTfError(f"sequence {s.name!r} ({s.source or '?'}) has no joint {missing[0]!r}")
    return list(joints), {}


def check_tracks(seq: Sequence, what: str) -> None:
    """Refuse what poseval cannot score: a person without a track id, an id outside
    0..MAX_TRACK_ID-1, or one id twice in a frame (poseval refuses duplicates in a
    prediction; in the GT they would make one object of two people)."""
    for frame in seq.frames:
        seen = set()
        where = f"{seq.source or what}: {what} frame {frame.file_name or frame.frame_id!r}"
        for k, person in enumerate(frame.people):
            t = person.track_id
            if t is None:
                raise PoseTfError(f"{where}: person {k} has no track_id")
            if not 0 <= t < MAX_TRACK_ID:
                raise PoseTfError(f"{where}: track_id {t} outside 0..{MAX_TRACK_ID - 1} "
                                  "(the range poseval holds)")
            if t in seen:
                raise PoseTfError(f"{where}: track_id {t} appears twice")
            seen.add(t)


# --------------------------------------------------------------------------------------
# One frame: poseval's assignGTmulti, vectorised

@dataclass
class _FrameArrays:
    xy: np.ndarray        # [N, J, 2]
    has: np.ndarray       # [N, J] bool
    track: list           # [N]
    score: np.ndarray     # [N, J] (predictions)
    head: np.ndarray      # [N] head sizes (GT)


def _frame_arrays(people: List[Person], cols: np.ndarray, regions, is_gt: bool,
                  where: str) -> _FrameArrays:
    known = cols >= 0
    cols = np.where(known, cols, 0)
    xy, has, track, score, head = [], [], [], [], []
    for k, p in enumerate(people):
        present = p.present
        if regions:                 # poseval removes points inside ignore regions ...
            present = present & ~_inside_any(p.keypoints[:, :2], regions)
        if not present.any():       # ... and people left without points
            continue
        if is_gt:
            if p.head_rect is None:
                raise PoseTfError(f"{where}: GT person {k} has no head rectangle (needed for PCKh)")
            head.append(head_size(p.head_rect))
        xy.append(p.keypoints[cols, :2])
        has.append(present[cols] & known)
        track.append(int(p.track_id))
        score.append(p.scores[cols] if p.scores is not None else np.full(len(cols), MIN_SCORE))
    n, j = len(xy), len(cols)
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
    if n_pr == 0 or n_gt == 0:       # nothing to match: every prediction is unassigned
        shape = (n_pr, n_gt, gt.has.shape[1])
        return np.zeros(shape, bool), np.full(shape, np.inf), np.full(n_gt, -1)
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
    return match, dist, pr_to_gt


# --------------------------------------------------------------------------------------
# Whole evaluation

_MOT_COUNTS = ["num_misses", "num_switches", "num_false_positives", "num_objects",
               "num_detections", "idtp", "idfp", "idfn"]


def evaluate(gt: List[Sequence], pred: List[Sequence], joints=None,
             poseval_quirks: bool = True, compute_ap: bool = True,
             frames_by_position: bool = False) -> dict:
    """Metrics of `pred` against `gt` (lists of sequences). See the module docstring."""
    joints, excluded = _select_joints(gt, pred, joints)
    for s in gt:
        check_tracks(s, "GT")
    for s in pred:
        check_tracks(s, "prediction")
    nj = len(joints)
    ap_scores = [[] for _ in range(nj)]
    ap_labels = [[] for _ in range(nj)]
    n_gt_joints = np.zeros(nj)
    totals = {k: np.zeros(nj) for k in _MOT_COUNTS + ["sumD", "phantoms"]}
    n_frames = 0
    for g_seq, p_seq in pair_sequences(gt, pred):
        g_cols, p_cols = _columns(g_seq, joints), _columns(p_seq, joints)
        frames = [(g, p) for g, p in pair_frames(g_seq, p_seq, frames_by_position)
                  if g.people]                                   # poseval's cleanupData
        updates = []
        for g_frame, p_frame in frames:
            where = f"{g_seq.source or g_seq.name}: frame {g_frame.file_name or g_frame.frame_id!r}"
            regions = g_frame.ignore_regions
            ga = _frame_arrays(g_frame.people, g_cols, regions, True, where)
            pa = _frame_arrays(p_frame.people, p_cols, regions, False, where)
            n_frames += 1
            n_gt_joints += ga.has.sum(0)
            updates.append(_score_frame(ga, pa, ap_scores, ap_labels, poseval_quirks))
        if poseval_quirks:
            updates = updates[:-1]                               # poseval: imgidxs[:-1]
        _accumulate(updates, totals)
    if n_frames == 0:
        raise PoseTfError("no labelled GT frame to evaluate")
    out = _final_metrics(joints, totals)
    if compute_ap:
        _add_ap(out, ap_scores, ap_labels, n_gt_joints)
    out.update(joints=joints, excluded_joints=excluded, frames=n_frames, sequences=len(gt),
               poseval_quirks=poseval_quirks,
               notes=_notes(joints, n_gt_joints, ap_scores, totals, poseval_quirks))
    return out


def _score_frame(ga: _FrameArrays, pa: _FrameArrays, ap_scores, ap_labels, quirks: bool):
    """AP detections of one frame (appended in place) and the per-joint MOT input:
    ([gt ids], [pred ids], distances [G, P] with NaN = no match, phantom flag)."""
    nj = ga.has.shape[1]
    match, dist, pr_to_gt = _assign_frame(ga, pa)
    for p in range(len(pa.track)):
        assigned = np.flatnonzero(pr_to_gt == p)
        labels = match[p, assigned[0]] if assigned.size else np.zeros(nj, bool)
        for j in np.flatnonzero(pa.has[p]):
            ap_scores[j].append(pa.score[p, j:j + 1])
            ap_labels[j].append(labels[j:j + 1].astype(float))
    if quirks and not (pa.track and ga.track):
        # poseval: a frame without GT or without prediction gets a phantom id 0 on both sides
        return [([0], [0], np.full((1, 1), np.nan), True) for _ in range(nj)]
    mot = []
    for j in range(nj):
        gi, pi = np.flatnonzero(ga.has[:, j]), np.flatnonzero(pa.has[:, j])
        d = dist[np.ix_(pi, gi, [j])][..., 0].T       # [G_j, P_j]
        m = match[np.ix_(pi, gi, [j])][..., 0].T
        mot.append(([ga.track[i] for i in gi], [pa.track[i] for i in pi], np.where(m, d, np.nan), False))
    return mot


def _accumulate(updates, totals: Dict[str, np.ndarray]) -> None:
    """One sequence's MOT input (a list of frames of per-joint updates) into `totals`."""
    import motmetrics as mm

    nj = len(totals["num_objects"])
    accs = [mm.MOTAccumulator(auto_id=True) for _ in range(nj)]
    for frame in updates:
        for j, (gt_ids, pr_ids, dist, phantom) in enumerate(frame):
            accs[j].update(gt_ids, pr_ids, dist)
            totals["phantoms"][j] += phantom
    mh = mm.metrics.create()
    for j, acc in enumerate(accs):
        m = mh.compute(acc, metrics=_MOT_COUNTS, return_dataframe=False, name="acc")
        for k in _MOT_COUNTS:
            totals[k][j] += float(m[k])
        d = acc.events["D"].sum() if len(acc.events) else 0.0
        totals["sumD"][j] += 0.0 if np.isnan(d) else float(d)


def _add_ap(out: dict, ap_scores, ap_labels, n_gt_joints) -> None:
    rows = [_average_precision(np.concatenate(s) if s else np.zeros(0),
                               np.concatenate(lab) if lab else np.zeros(0), n)
            for s, lab, n in zip(ap_scores, ap_labels, n_gt_joints)]
    ap, pre, rec = (np.array(v, float) for v in zip(*rows))
    out["per_joint"].update(AP=_listed(ap), AP_precision=_listed(pre), AP_recall=_listed(rec))
    out.update(mAP=_mean(ap), AP_precision=_mean(pre), AP_recall=_mean(rec))


def _average_precision(scores: np.ndarray, labels: np.ndarray, n_gt: float):
    """poseval's computeRPC + VOCap (all-point interpolated AP): (AP, last precision, last
    recall). No detection: all 0 (poseval's initial values, even without GT); detections
    but no GT: recall and AP undefined (NaN)."""
    if len(scores) == 0:
        return 0.0, 0.0, 0.0
    # Ties keep poseval's order: numpy's default (unstable) argsort of the float64 scores in
    # frame order, reversed. A stable sort moves AP by up to 0.67 points per joint.
    order = np.argsort(np.asarray(scores, np.float64))[::-1]
    tp = np.cumsum(labels[order] == 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp / n_gt
    precision = tp / np.arange(1, len(order) + 1)
    if n_gt == 0:
        return float("nan"), float(precision[-1]), float("nan")
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i])), float(precision[-1]), float(recall[-1])


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
    return {"MOTA": _mean(mota), "MOTP": _mean(motp), "precision": _mean(precision),
            "recall": _mean(recall), "IDF1": _mean(idf1), "IDSW": int(t["num_switches"].sum()),
            "per_joint": per_joint}


def _notes(joints, n_gt_joints, ap_scores, t: Dict[str, np.ndarray], quirks: bool) -> List[str]:
    """What a reader of the figures should know about single joints."""
    notes = []
    for j, name in enumerate(joints):
        if n_gt_joints[j] == 0 and ap_scores[j]:
            notes.append(f"{name}: predicted but never in the GT: AP undefined, left out of mAP")
        elif not ap_scores[j]:
            notes.append(f"{name}: never predicted: AP 0" + (" (no GT either)" if n_gt_joints[j] == 0 else ""))
        # poseval's phantom objects (frames with no GT or no prediction left) can be a
        # joint's only objects; its MOTA then divides every false positive by those few
        # (the nose's -11900 % of the ignore-region case). Reported as poseval does.
        if quirks and t["num_objects"][j] > 0 and t["num_objects"][j] == t["phantoms"][j] \
                and n_gt_joints[j] == 0:
            notes.append(f"{name}: MOTA counts only poseval's phantom objects (no GT {name}); "
                         "reported as poseval does, undefined with --no-poseval-quirks")
    return notes


def _mean(values) -> Optional[float]:
    """Mean over the defined values (poseval's total); None when none is defined."""
    values = np.asarray(values, float)
    ok = ~np.isnan(values)
    return float(values[ok].mean()) if ok.any() else None


def _listed(values) -> list:
    return [None if np.isnan(v) else float(v) for v in np.asarray(values, float)]


# --------------------------------------------------------------------------------------
# Reporting

def as_percent(metrics: dict) -> dict:
    """A copy of `evaluate`'s result with its rates in percent, as poseval reports them."""
    def scale(v):
        if isinstance(v, list):
            return [None if x is None else 100.0 * x for x in v]
        return None if v is None else 100.0 * v

    out = dict(metrics, per_joint=dict(metrics["per_joint"]))
    for key in RATE_KEYS:
        if key in out:
            out[key] = scale(out[key])
        if key in out["per_joint"]:
            out["per_joint"][key] = scale(out["per_joint"][key])
    return out


def format_table(metrics: dict, digits: int = 3) -> str:
    """Per-joint table plus the totals, as printed by `pose-tf evaluate-tracking`."""
    pj = metrics["per_joint"]
    cols = ["MOTA", "MOTP", "precision", "recall", "IDF1", "IDSW"] + (["AP"] if "AP" in pj else [])
    lines = [f"{'joint':<16}" + "".join(f"{c:>10}" for c in cols)]

    def cell(v):
        if v is None:
            return f"{'-':>10}"
        return f"{v:>10d}" if isinstance(v, int) else f"{v:>10.{digits}f}"

    for i, name in enumerate(pj["joint"]):
        lines.append(f"{name:<16}" + "".join(cell(pj[c][i]) for c in cols))
    total = dict(metrics, AP=metrics.get("mAP"))
    lines.append(f"{'total':<16}" + "".join(cell(total[c]) for c in cols))
    return "\n".join(lines)
