"""Tracker benchmark on the Bonn Multi-Person PoseTrack videos: ours vs greedy baselines.

Ground-truth poses of the 30 *test* videos go through a seeded detector-noise model
(`pose_tf.tracking.simulator.DetectorNoise`: joint jitter relative to person size, dropped joints,
missed people in bursts, spurious people) at three levels (seed 1); every tracker links the
same noisy detections and is scored as poseval scores PoseTrack (per-joint MOTA via
motmetrics, PCKh@0.5 with the annotated head rectangles, on the 12 joints COCO and MPII
share), plus IDF1 and identity switches, and person-level IDF1/IDSW from the known
detection identities.

Nothing is fit or tuned on what is scored: ours is fit (`fitting.fit_tracker_on`: weights and
gate) and the baselines' thresholds are tuned (best mean IDF1) on the same detections, the
30 Bonn *train* videos at two noise levels *between* the scored ones (FIT_LEVELS, seed 0).

Trackers:
- ours             pose_tf.tracking.tracker.PoseTracker, fit as above (--tracker: given weights)
- iou_greedy       greedy matching on box IoU with ours' track memory and motion model: a
                   track unmatched for up to max_lost_frames is kept, every track is compared
                   at its constant-velocity prediction and updated as ours updates it (the
                   matching is the only difference)
- oks_greedy       the same on OKS
- iou_frame2frame  the classic PoseTrack baseline: greedy IoU matching of each frame's
                   detections with the previous frame's only (a track unmatched once is gone)
- oks_frame2frame  the same on OKS

Speed: tracking alone (poses given), frames per second with 5 and 20 people per frame; all
trackers are timed in the same rounds (best of them), so a busy moment of a shared machine
slows them alike, and ours is also given as a ratio of the others in the same run.

    python bench/tracking.py [--json out.json] [--levels low,medium,high] [--seed 1]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _shared import data_dir  # noqa: E402
from pose_tf.core.keypoints import COCO_KEYPOINTS, COCO_SIGMAS  # noqa: E402
from pose_tf.core.pose import Pose  # noqa: E402
from pose_tf.evaluation.posetrack import evaluate  # noqa: E402
from pose_tf.io.files import write_json_atomic  # noqa: E402
from pose_tf.io.posetrack import read_bonn, sequence_from_poses  # noqa: E402
from pose_tf.tracking.fitting import fit_tracker_on, identity_scores, noisy_detections  # noqa: E402
from pose_tf.tracking.simulator import NOISE_LEVELS, DetectorNoise, NoiseLevel  # noqa: E402
from pose_tf.tracking.tracker import (PoseTracker, _boxes, _iou, _pose_arrays,  # noqa: E402
                                      load_tracker_config, predict)

BONN = data_dir() / "posetrack_bonn"
THRESHOLDS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
# Fitting and tuning levels, between the scored low / medium / high (simulator.NOISE_LEVELS).
FIT_LEVELS = (NoiseLevel("fit_low_medium", 0.022, 0.15, 0.05, 4, 0.20),
              NoiseLevel("fit_medium_high", 0.040, 0.25, 0.11, 8, 0.45))
FIT_SEED = 0


def oks_matrix(a_xy, a_ok, b_xy, b_ok) -> np.ndarray:
    """[A, B] OKS over the joints both poses ([N, 2, 17]) have, box area as object area."""
    box = _boxes(a_xy, a_ok)
    area = np.maximum((box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]), 1.0)
    d2 = ((a_xy[:, None] - b_xy[None]) ** 2).sum(-2)
    e = d2 / (2 * area[:, None, None] * (2 * COCO_SIGMAS) ** 2)
    shared = a_ok[:, None] & b_ok[None]
    return (np.exp(-e) * shared).sum(-1) / np.maximum(shared.sum(-1), 1)


def iou_matrix(a_xy, a_ok, b_xy, b_ok) -> np.ndarray:
    return _iou(_boxes(a_xy, a_ok), _boxes(b_xy, b_ok))


SIMILARITY = {"iou": iou_matrix, "oks": oks_matrix}


def greedy_match(sim: np.ndarray, threshold: float):
    """(rows, columns): pairs taken best similarity first, each row and column once, while
    the similarity is at least `threshold`."""
    rows, cols = [], []
    for flat in np.argsort(-sim, axis=None, kind="stable").tolist():
        r, c = divmod(flat, sim.shape[1])
        if sim[r, c] < threshold:
            break
        if r not in rows and c not in cols:
            rows.append(r)
            cols.append(c)
    return np.array(rows, np.int64), np.array(cols, np.int64)


class FrameToFrameGreedy:
    """The classic baseline: each frame's detections matched greedily to the previous
    frame's; a detection left unmatched starts a new id, a track unmatched once is gone."""

    def __init__(self, similarity: str, threshold: float):
        self.similarity, self.threshold = SIMILARITY[similarity], threshold
        self.prev = None
        self.next_id = 0

    def update(self, poses):
        xy, ok = _pose_arrays(poses)
        ids = [-1] * len(poses)
        if self.prev is not None and len(poses) and len(self.prev[2]):
            p_xy, p_ok, p_ids = self.prev
            for r, c in zip(*greedy_match(self.similarity(p_xy, p_ok, xy, ok), self.threshold)):
                ids[c] = p_ids[r]
        for i, v in enumerate(ids):
            if v < 0:
                ids[i] = self.next_id
                self.next_id += 1
        self.prev = (xy, ok, ids)
        return [Pose(p.keypoints, p.score, i) for p, i in zip(poses, ids)]


class MemoryGreedy(PoseTracker):
    """Greedy matching inside ours: the same tracks kept for `max_lost_frames`, compared at
    the same constant-velocity prediction and updated the same way; only the matching
    (greedy on IoU or OKS instead of the Hungarian algorithm on our pairwise model) differs."""

    def __init__(self, similarity: str, threshold: float, config):
        super().__init__(config)
        self.similarity, self.threshold = SIMILARITY[similarity], threshold

    def _match(self, xy, ok):
        _, t_xy, t_ok = predict(self.tracks, self.frame, self.config.joint_memory_frames)
        return greedy_match(self.similarity(t_xy, t_ok, xy, ok), self.threshold)


def run(make_tracker, detections):
    tracker = make_tracker()
    return [tracker.update(poses) for poses in detections]


def noisy_sets(sequences, levels, seed):
    """{level: [(detections, labels) per sequence]} with one noise stream per sequence."""
    out = {}
    for level in levels:
        noise = DetectorNoise(NOISE_LEVELS[level], seed)
        out[level] = [noise(s.poses(), stream=i) for i, s in enumerate(sequences)]
    return out


def tune_threshold(make, fit_sets) -> float:
    """The threshold with the best mean person IDF1 on the fitting detections."""
    best = None
    for thr in THRESHOLDS:
        key = float(np.mean([identity_scores(run(lambda: make(thr), d), lab)["IDF1"] for d, lab in fit_sets]))
        if best is None or key > best[0]:
            best = (key, thr)
    return best[1]


def make_trackers(config, fit_sets, log):
    """{name: zero-argument tracker factory}, baselines' thresholds tuned on `fit_sets`."""
    families = {
        "iou_greedy": lambda thr: MemoryGreedy("iou", thr, config),
        "oks_greedy": lambda thr: MemoryGreedy("oks", thr, config),
        "iou_frame2frame": lambda thr: FrameToFrameGreedy("iou", thr),
        "oks_frame2frame": lambda thr: FrameToFrameGreedy("oks", thr),
    }
    trackers, thresholds = {"ours": lambda: PoseTracker(config)}, {}
    for name, make in families.items():
        thresholds[name] = tune_threshold(make, fit_sets) if fit_sets else 0.1
        trackers[name] = (lambda m, t: lambda: m(t))(make, thresholds[name])
    if fit_sets:
        log(f"baseline thresholds tuned on the fitting detections: {thresholds}")
    return trackers, thresholds


def fit_ours(args, train, log):
    """(config, description, fitting detections): ours fit on the fitting detections, or
    the weights given with --tracker."""
    fit_sets = noisy_detections([s.poses() for s in train], FIT_LEVELS, FIT_SEED)
    if args.tracker:
        return load_tracker_config(args.tracker), f"weights from {args.tracker}", fit_sets
    t0 = time.perf_counter()
    config, report = fit_tracker_on(fit_sets)
    text = (f"fit on the {len(train)} Bonn train videos at noise levels "
            f"{', '.join(lv.name for lv in FIT_LEVELS)} (not scored), seed {FIT_SEED}; "
            f"gate {config.min_probability}")
    log(f"ours: {text} ({report['pairs']} pairs, {time.perf_counter() - t0:.0f} s)")
    return config, text, fit_sets


def score(test_seqs, data, tracked):
    preds = [sequence_from_poses(s.name, frames, [f.file_name for f in s.frames], COCO_KEYPOINTS)
             for s, frames in zip(test_seqs, tracked)]
    m = evaluate(test_seqs, preds, compute_ap=False)
    person = [identity_scores(t, lab) for t, (_, lab) in zip(tracked, data)]
    return {"MOTA": m["MOTA"], "IDF1": m["IDF1"], "IDSW": m["IDSW"],
            "person_IDF1": float(np.mean([p["IDF1"] for p in person])),
            "person_IDSW": int(sum(p["IDSW"] for p in person)), "joints": m["joints"]}


def walkers(people: int, frames: int, seed: int = 0):
    """`people` walkers with person-like joint spreads, constant velocities and jitter."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 40, (people, 17, 2)) + rng.uniform(0, 1500, (people, 1, 2))
    vel = rng.normal(0, 3, (people, 1, 2))
    stream = []
    for f in range(frames):
        xy = base + vel * f + rng.normal(0, 3, base.shape)
        stream.append([Pose(np.concatenate([xy[i], np.ones((17, 1))], 1), 1.0) for i in range(people)])
    return stream


def speed(trackers: dict, people: int, frames: int, rounds: int = 5) -> dict:
    """{name: frames per second} of tracking alone, best of `rounds`; every round times
    every tracker, so the load of a shared machine falls on all of them alike."""
    stream = walkers(people, frames)
    best = dict.fromkeys(trackers, float("inf"))
    for _ in range(rounds):
        for name, make in trackers.items():
            tracker = make()
            t0 = time.perf_counter()
            for poses in stream:
                tracker.update(poses)
            best[name] = min(best[name], time.perf_counter() - t0)
    return {name: frames / t for name, t in best.items()}


def measure_speed(trackers: dict, frames: int) -> dict:
    """speed_fps ({name: {"5": fps, "20": fps}}) and ours' ratio to every other tracker."""
    by_people = {str(n): speed(trackers, n, frames) for n in (5, 20)}
    fps = {name: {n: s[name] for n, s in by_people.items()} for name in trackers}
    ratio = {name: {n: fps["ours"][n] / fps[name][n] for n in by_people} for name in trackers if name != "ours"}
    return {"speed_fps": fps, "speed_ratio_ours_to": ratio, "load_average": os.getloadavg()[0]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", default=str(BONN / "tracks_all_videos.json"))
    ap.add_argument("--annolist", default=str(BONN / "annolist"))
    ap.add_argument("--tracker", default=None, help="tracker YAML (default: fit on the fitting levels)")
    ap.add_argument("--levels", default="low,medium,high")
    ap.add_argument("--seed", type=int, default=1, help="noise seed of the test detections")
    ap.add_argument("--speed-frames", type=int, default=2000)
    ap.add_argument("--json", default=None, help="write the figures here")
    ap.add_argument("--speed-only", action="store_true", help="measure only the tracking speed (shipped weights)")
    args = ap.parse_args(argv)
    if not Path(args.tracks).exists():
        print(f"Bonn tracks not found: {args.tracks}", file=sys.stderr)
        return 2
    if args.speed_only:
        trackers, _ = make_trackers(load_tracker_config(args.tracker), [], print)
        results = measure_speed(trackers, args.speed_frames)
        print_speed(results)
        return 0
    levels = [s for s in args.levels.split(",") if s]
    sequences = read_bonn(args.tracks, args.annolist)
    train = [s for s in sequences if s.split == "train"]
    test = [s for s in sequences if s.split == "test"]
    print(f"Bonn: {len(train)} train / {len(test)} test videos")
    config, fitted, fit_sets = fit_ours(args, train, print)
    trackers, thresholds = make_trackers(config, fit_sets, print)
    results = {"levels": {}, "noise": {}, "thresholds": thresholds, "ours": fitted,
               "fit_levels": {lv.name: lv.__dict__ for lv in FIT_LEVELS}, "fit_seed": FIT_SEED,
               "videos": {"train": len(train), "test": len(test)}, "seed": args.seed}
    test_sets = noisy_sets(test, levels, seed=args.seed)
    for level in levels:
        results["noise"][level] = NOISE_LEVELS[level].__dict__
        results["levels"][level] = {}
        for name, make in trackers.items():
            tracked = [run(make, d) for d, _ in test_sets[level]]
            results["levels"][level][name] = score(test, test_sets[level], tracked)
            print(f"  {level:<7} {name:<16} done", flush=True)
    results.update(measure_speed(trackers, args.speed_frames))
    print_table(results, levels)
    if args.json:
        write_json_atomic(args.json, results)
        print(f"wrote {args.json}")
    return 0


def print_table(results, levels):
    print()
    print(f"Bonn PoseTrack test videos ({results['videos']['test']}), poseval-style metrics on the 12 shared "
          f"joints; person_* from known detection identities. ours: {results['ours']}")
    head = f"{'noise':<8}{'tracker':<17}{'MOTA':>8}{'IDF1':>8}{'IDSW':>8}{'person IDF1':>13}{'person IDSW':>13}"
    print(head)
    print("-" * len(head))
    for level in levels:
        for name, r in results["levels"][level].items():
            print(f"{level:<8}{name:<17}{r['MOTA']:>8.3f}{r['IDF1']:>8.3f}{r['IDSW']:>8d}"
                  f"{r['person_IDF1']:>13.3f}{r['person_IDSW']:>13d}")
    print()
    print_speed(results)


def print_speed(results):
    print(f"{'tracker':<17}{'fps, 5 people':>15}{'fps, 20 people':>16}{'ours / this':>14}   (tracking only, "
          f"poses given; best of 5 interleaved rounds; load average {results['load_average']:.1f} "
          f"on {os.cpu_count()} cores)")
    for name, s in results["speed_fps"].items():
        ratio = results["speed_ratio_ours_to"].get(name)
        text = f"{ratio['5']:.2f} / {ratio['20']:.2f}" if ratio else ""
        print(f"{name:<17}{s['5']:>15.0f}{s['20']:>16.0f}{text:>14}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
