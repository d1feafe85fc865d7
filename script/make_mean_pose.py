#!/usr/bin/env python
"""Compute the mean COCO-17 pose used to place missing joints (pose_tf/codec/completion.py).

Generalised Procrustes (scale + translation) over every person with >= 8 labelled
keypoints in the given COCO keypoint files. Run:
    python script/make_mean_pose.py ../shared/data/coco_mini/annotations/person_keypoints_train2017.json \
        ../shared/data/coco128/annotations/person_keypoints_train2017.json
It writes pose_tf/resources/mean_pose.json (17 x 2 numbers, unit scale, centred).
"""
import json
import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "pose_tf", "resources", "mean_pose.json")


def load_people(paths):
    people = []
    for path in paths:
        for ann in json.load(open(path))["annotations"]:
            k = np.asarray(ann["keypoints"], np.float64).reshape(17, 3)
            if not ann.get("iscrowd") and (k[:, 2] > 0).sum() >= 8:
                people.append(k)
    return people


def normalise(points):
    centred = points - points.mean(0)
    return centred / np.sqrt((centred ** 2).sum(1).mean())


def fit(template, k):
    """Person k mapped into the template frame by scale + translation on its labelled joints."""
    m = k[:, 2] > 0
    src, dst = k[m, :2], template[m]
    sc, dc = src - src.mean(0), dst - dst.mean(0)
    s = (sc * dc).sum() / max((sc ** 2).sum(), 1e-9)
    return (k[:, :2] - src.mean(0)) * s + dst.mean(0), m


def main(paths):
    people = load_people(paths)
    template = normalise(np.mean([p[:, :2] for p in people if (p[:, 2] > 0).all()] or
                                 [p[:, :2] for p in people], 0))
    for _ in range(10):
        acc, cnt = np.zeros((17, 2)), np.zeros((17, 1))
        for k in people:
            xy, m = fit(template, k)
            acc[m] += xy[m]
            cnt[m] += 1
        template = normalise(acc / np.maximum(cnt, 1))
    with open(OUT, "w") as f:
        json.dump({"source": "COCO train2017 keypoints (coco_mini train + coco128), CC BY 4.0",
                   "people": len(people), "mean_pose": np.round(template, 4).tolist()}, f, indent=1)
    print(f"{len(people)} people -> {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
