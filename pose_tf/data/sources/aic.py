"""AI Challenger keypoints (14 joints: 12 limb joints + head top + neck).

Two layouts are read:
- the official release: a JSON list of {"image_id": "<hash>", "keypoint_annotations":
  {"human1": [x, y, v] * 14}, "human_annotations": {"human1": [x1, y1, x2, y2]}} with
  v = 1 visible, 2 occluded, 3 not labelled (mapped to COCO's 2, 1, 0);
- the COCO-style conversion (MMPose's `aic_*.json`), with COCO visibility codes.
Head top and neck have no COCO-17 joint: face joints are flagged unlabelled.
"""
from __future__ import annotations

import os

import numpy as np

from ...core.keypoints import JOINT_SETS
from .base import ReadResult, clear_unlabelled, load_json, make_entry, resolve_image
from .coco import Malformed, _finite_list, _int_id, read_coco_style

NAME = "aic"
JOINT_SET = "aic14"
OFFICIAL_VISIBILITY = {1: 2, 2: 1, 3: 0, 0: 0}


def read(annotations, images, **_) -> ReadResult:
    data = load_json(annotations)
    if isinstance(data, list):
        return _read_official(data, os.path.basename(os.fspath(annotations)), os.fspath(images))
    return read_coco_style(annotations, images, source=NAME, joint_set=JOINT_SET)


def _official_person(kps, box):
    joints = JOINT_SETS[JOINT_SET]
    kp = np.array(_finite_list(kps, 42, "keypoints"), np.float32).reshape(14, 3)
    codes = kp[:, 2].astype(int)
    bad = sorted(set(codes.tolist()) - set(OFFICIAL_VISIBILITY))
    if bad:
        raise Malformed(f"keypoint visibility {bad[0]} not one of 1, 2, 3")
    kp[:, 2] = [OFFICIAL_VISIBILITY[c] for c in codes]
    x1, y1, x2, y2 = _finite_list(box, 4, "human_annotations box")
    bbox = [x1, y1, x2 - x1, y2 - y1]
    return clear_unlabelled(joints.to_coco(kp)), bbox


def _read_official(data, name, images) -> ReadResult:
    entries, problems = [], []
    labelled = JOINT_SETS[JOINT_SET].labelled()
    for i, item in enumerate(data):
        try:
            image_key = item["image_id"]
            kps, boxes = item["keypoint_annotations"], item.get("human_annotations", {})
            people, ignore = [], []
            for human, values in kps.items():
                kp, bbox = _official_person(values, boxes.get(human))
                if (kp[:, 2] > 0).any():
                    people.append({"keypoints": kp, "bbox": bbox})
                else:
                    ignore.append(("box", bbox))
        except (Malformed, KeyError, TypeError, AttributeError) as exc:
            problems.append(f"{name}: entry {i}: {str(exc) or type(exc).__name__}; skipped")
            continue
        file_name = f"{image_key}.jpg"
        entries.append(make_entry(NAME, _int_id(image_key), file_name,
                                  resolve_image(images, file_name), people, labelled,
                                  ignore_regions=ignore, record=f"{name} entry {i}",
                                  images_root=images))
    entries.sort(key=lambda e: (e.filename, e.image_id))
    return ReadResult(entries, problems)
