#!/usr/bin/env python
"""Where a distilled student loses its AP against the teacher: maps and features swapped.

On one COCO set, the student's and the teacher's maps are predicted once per image (the
estimator's letterbox, 368x432 box, scale 1, no flip: what `pose-tf evaluate` does) and
decoded six ways with the same post-processing, each scored by pycocotools:

  student            the student's maps                       (= pose-tf evaluate --model M)
  teacher            the teacher's maps, in the student's layout
  s_heatmaps+t_pafs  the student's heatmaps, the teacher's PAFs
  t_heatmaps+s_pafs  the teacher's heatmaps, the student's PAFs
  heads_on_teacher   the student's neck and heads run on the teacher's trunk features at
                     the setting's `distillation.head_layers` (area-resampled to the
                     student's stride and clipped as in training), the student's trunk unused
  s_peaks_at_t       the student's maps and peaks, but each student peak within
                     `MOVE_CELLS` of a teacher peak of its part moved onto it (one to one,
                     nearest pairs first): what the peaks' positions alone cost

A swap that scores near the teacher says the swapped-in half is what the student lacks.
Then how well the student's heatmap peaks agree with the teacher's (the post-processing's
own peak finder, sub-pixel refined): each teacher peak above `--peak-floor` is matched to
the student's nearest peak of the same part within 2 map cells; printed are the share
matched, the mean offset (a shift of one map against the other, which AP75 feels long
before AP50), the median distance and the mean peak heights.
The student must share the teacher's layout (openpose18 here): maps are swapped channel by
channel. The student must be a Keras file for `heads_on_teacher`.

    python bench/distill_gap.py [--model M.keras] [--setting setting/distill_focal.yaml]
                                [--split train2017|val2017] [--limit N] [--json out.json]
"""
import argparse
import contextlib
import io
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _shared import data_dir  # noqa: E402

VARIANTS = ("student", "teacher", "s_heatmaps+t_pafs", "t_heatmaps+s_pafs", "heads_on_teacher",
            "s_peaks_at_t")


def parse_args():
    from pose_tf.commands._model_args import DEFAULT_MODEL

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="the student (.keras)")
    p.add_argument("--setting", default=str(ROOT / "setting" / "distill_focal.yaml"),
                   help="the student's distillation setting (teacher, hint tensors, head layers)")
    p.add_argument("--split", default="train2017", choices=["train2017", "val2017"],
                   help="coco_mini split; settings are chosen on train2017")
    p.add_argument("--limit", type=int, default=0,
                   help="first N images only, a smoke run: the others count as misses (0 = all)")
    p.add_argument("--peak-floor", type=float, default=0.3,
                   help="teacher peaks above this are matched to the student's (default 0.3)")
    p.add_argument("--json", help="write {variant: {AP, AP50, AP75, AR}} and the peak agreement here")
    return p.parse_args()


def teacher_trunk(setting, student, layout):
    """(student heads model, function image batch -> teacher features for those heads)."""
    import keras

    from pose_tf.training.distill import Teacher, probe_layers, section_targets

    distillation = setting.distillation
    names = list(distillation.head_layers)
    if not names:
        raise SystemExit(f"{setting.path}: distillation.head_layers is empty")
    teacher = Teacher(distillation, layout)
    inputs = [student.get_layer(n).output for n in names]
    heads = keras.Model(inputs, student.outputs[-1])
    strides = [stride for stride, _ in probe_layers(student, names)]
    picks = [distillation.hint_layers.index(n) for n in names]

    def features(batch):
        _, hints = teacher(batch)
        fed = section_targets(strides, batch, [hints[i] for i in picks], distillation.hint_clip)
        return fed

    return heads, features


MATCH_CELLS = 2.0   # a student peak further than this from the teacher's is a miss
MOVE_CELLS = 1.5    # s_peaks_at_t: the same peak in both maps, shifted less than this


def peaks_moved_onto(ours, theirs, within=MOVE_CELLS):
    """The student's peaks `ours` [N, 4] (x, y, score, part, as `find_peaks` gives them)
    with each one within `within` cells of a teacher peak of its part (`theirs`) moved onto
    that peak's position (each teacher peak taken once, nearest pairs first); scores,
    parts and unmatched peaks stay the student's."""
    pairs = []
    for i, (x, y, _, part) in enumerate(ours):
        for j in np.flatnonzero(theirs[:, 3] == part):
            distance = np.hypot(theirs[j, 0] - x, theirs[j, 1] - y)
            if distance < within:
                pairs.append((distance, i, j))
    moved, taken = ours.copy(), set()
    done = np.zeros(len(ours), bool)
    for _, i, j in sorted(pairs):
        if not done[i] and j not in taken:
            moved[i, :2] = theirs[j, :2]
            done[i] = True
            taken.add(j)
    return moved


def peak_pairs(ours, theirs, floor):
    """(offsets [K, 2] student - teacher in map cells, heights [K, 2] student/teacher, misses)
    of one image's peaks (`find_peaks`): each teacher peak above `floor` against the
    student's nearest of its part."""
    offsets, heights, misses = [], [], 0
    for x, y, score, part in theirs[theirs[:, 2] > floor]:
        candidates = ours[ours[:, 3] == part]
        distance = np.hypot(candidates[:, 0] - x, candidates[:, 1] - y)
        if not len(candidates) or distance.min() > MATCH_CELLS:
            misses += 1
            continue
        nearest = candidates[distance.argmin()]
        offsets.append(nearest[:2] - (x, y))
        heights.append((nearest[2], score))
    return np.reshape(offsets, (-1, 2)), np.reshape(heights, (-1, 2)), misses


def peak_agreement(pairs) -> dict:
    """Summary of `peak_pairs` over a set of images (None where nothing matched)."""
    offsets = np.concatenate([p[0] for p in pairs])
    heights = np.concatenate([p[1] for p in pairs])
    misses = sum(p[2] for p in pairs)
    total = len(offsets) + misses
    summary = {"teacher_peaks": int(total), "matched": round(len(offsets) / max(total, 1), 4)}
    values = {"mean_dx_cells": offsets[:, 0].mean, "mean_dy_cells": offsets[:, 1].mean,
              "median_distance_cells": lambda: np.median(np.hypot(*offsets.T)),
              "student_height": heights[:, 0].mean, "teacher_height": heights[:, 1].mean}
    for key, value in values.items():
        summary[key] = round(float(value()), 4) if len(offsets) else None
    return summary


def main():
    args = parse_args()
    import keras
    import tensorflow as tf

    import pose_tf.models  # noqa: F401  (registers the custom layers the .keras file names)
    from pose_tf.evaluation.coco import load_ground_truth, score_results
    from pose_tf.grouping import find_peaks
    from pose_tf.inference.estimator import Estimator
    from pose_tf.io.files import path_in_folder, write_json_atomic
    from pose_tf.io.images import read_image
    from pose_tf.training.settings import load_setting

    root = data_dir() / "coco_mini"
    gt = load_ground_truth(root / "annotations" / f"person_keypoints_{args.split}.json")
    setting = load_setting(args.setting)
    student = Estimator.from_path(args.model)
    layout = student.layout
    teacher = Estimator.from_path(setting.distillation.teacher, layout=layout.name)
    heads, teacher_features = teacher_trunk(setting, keras.models.load_model(args.model, compile=False), layout)
    split = layout.num_parts + int(layout.has_background)
    results, pairs = {v: [] for v in VARIANTS}, []
    images = gt.dataset["images"][: args.limit or None]
    for number, info in enumerate(images, 1):
        image = read_image(path_in_folder(root / args.split, info["file_name"]))
        s_maps, to_image = student.predict_maps(image)
        t_maps, _ = teacher.predict_maps(image)
        canvas = student.letterboxed(image)[0]
        maps = {"student": s_maps, "teacher": t_maps,
                "s_heatmaps+t_pafs": np.concatenate([s_maps[..., :split], t_maps[..., split:]], -1),
                "t_heatmaps+s_pafs": np.concatenate([t_maps[..., :split], s_maps[..., split:]], -1),
                "heads_on_teacher": heads(teacher_features(tf.constant(canvas[None], tf.float32))).numpy()[0]}
        ours = find_peaks(s_maps, layout, student.params)
        theirs = find_peaks(t_maps, layout, student.params)
        pairs.append(peak_pairs(ours, theirs, args.peak_floor))
        maps["s_peaks_at_t"] = s_maps
        for variant, m in maps.items():
            peaks = peaks_moved_onto(ours, theirs) if variant == "s_peaks_at_t" else None
            results[variant] += [p.to_coco(info["id"]) for p in student.decode(m, to_image, peaks)]
        print(f"\r{number}/{len(images)} images", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    table = {}
    for variant in VARIANTS:
        with contextlib.redirect_stdout(io.StringIO()):
            metrics = score_results(gt, results[variant]) if results[variant] else {}
        table[variant] = {k: round(float(metrics.get(k, 0.0)), 4) for k in ("AP", "AP50", "AP75", "AR")}
    print(f"coco_mini {args.split}, {len(images)} images; student {args.model}")
    print(f"{'maps decoded':22s} {'AP':>7s} {'AP50':>7s} {'AP75':>7s} {'AR':>7s}")
    for variant, row in table.items():
        print(f"{variant:22s} " + " ".join(f"{row[k]:7.3f}" for k in ("AP", "AP50", "AP75", "AR")))
    agreement = peak_agreement(pairs)
    print(f"heatmap peaks, student against teacher (teacher peaks above {args.peak_floor}, "
          f"map cells of stride 8): {agreement['teacher_peaks']} teacher peaks, "
          f"{100 * agreement['matched']:.1f}% matched within {MATCH_CELLS:g} cells; mean offset "
          f"dx {agreement['mean_dx_cells']}, dy {agreement['mean_dy_cells']}; median distance "
          f"{agreement['median_distance_cells']}; mean height {agreement['student_height']} "
          f"against {agreement['teacher_height']}")
    if args.json:
        write_json_atomic(args.json, {"split": args.split, "images": len(images),
                                      "model": args.model, "results": table,
                                      "peak_agreement": agreement}, indent=2)


if __name__ == "__main__":
    main()
