"""PoseTrack: 2018 per-sequence JSON and 2017 annolist JSON (as poseval reads them).

`--annotations` is one JSON file or a folder of them (one per sequence, searched
recursively); each file's layout is detected. `--images` is the dataset root that the
files' image names are relative to (e.g. `images/val/000342_mpii/000000.jpg`).

- Bonn Multi-Person PoseTrack's COCO-style export (categories list the 14 `mpii14`
  joints, COCO visibility codes, `track_id`) is read like a 2018 file with that joint set.
- 2018: COCO-style `images` (with `is_labeled`, `ignore_regions_x/_y` polygons) and
  `annotations` (17 slots: nose, head_bottom, head_top, two unused ear slots, then
  COCO's limb joints; `track_id`). Only labelled frames are converted: an unlabelled
  frame has people but no annotation. The format records "annotated", not occlusion,
  so annotated joints get v = 2.
- 2017: {"annolist": [{"image": [{"name"}], "is_labeled": [1], "annorect": [{"track_id":
  [id], "annopoints": [{"point": [{"id": [j], "x": [x], "y": [y], "is_visible": [v]}]}]}],
  "ignore_regions": [{"point": [{"x": [x], "y": [y]}, ...]}]}]}; joint ids follow
  poseval (0 right ankle ... 11 left wrist, 12 neck, 13 nose, 14 head top).
Head top/bottom and neck have no COCO-17 joint; eyes and ears are flagged unlabelled.
People without joints go into the ignore mask by their box.
"""
from __future__ import annotations

import os

import numpy as np

from ...core.errors import PoseTfError
from ...core.keypoints import JOINT_SETS
from .base import (ReadResult, box_of_keypoints, clear_unlabelled, load_json, make_entry,
                   resolve_image)
from .coco import Malformed, read_coco_style

NAME = "posetrack"
JOINT_SET = "posetrack"
JOINT_SET_2017 = "posetrack17"
VISIBILITY_2018 = {0: 0, 1: 2, 2: 2}


def annotation_files(annotations) -> list:
    path = os.fspath(annotations)
    if os.path.isdir(path):
        found = sorted(os.path.join(root, f) for root, _, files in os.walk(path)
                       for f in files if f.endswith(".json"))
        if not found:
            raise PoseTfError(f"{path}: no .json annotation files in this folder")
        return found
    return [path]


def read(annotations, images, **_) -> ReadResult:
    entries, problems = [], []
    for path in annotation_files(annotations):
        data = load_json(path)
        if isinstance(data, dict) and "annolist" in data:
            result = read_2017(data, path, os.fspath(images))
        elif isinstance(data, dict) and "images" in data:
            result = read_2018(path, images, _joint_set_2018(data))
        else:
            problems.append(f"{os.path.basename(path)}: neither PoseTrack 2018 ('images') "
                            f"nor 2017 ('annolist') layout; file skipped")
            continue
        entries.extend(result.entries)
        problems.extend(result.problems)
    entries.sort(key=lambda e: (e.filename, e.image_id))
    return ReadResult(entries, problems)


# ---------------------------------------------------------------------------- 2018

def _ignore_polygons_2018(img) -> list:
    xs, ys = img.get("ignore_regions_x") or [], img.get("ignore_regions_y") or []
    polys = []
    for x, y in zip(xs, ys):
        if len(x) == len(y) and len(x) >= 3:
            polys.append([float(v) for xy in zip(x, y) for v in xy])
    return [("polygon", polys)] if polys else []


def _joint_set_2018(data) -> str:
    """PoseTrack 2018 files use the 17-slot layout; the COCO-style export of the Bonn
    Multi-Person PoseTrack (Iqbal et al. 2017) lists the 14 MPII-like joints instead."""
    cats = data.get("categories") or [{}]
    names = tuple(cats[0].get("keypoints") or ())
    return "mpii14" if names == JOINT_SETS["mpii14"].names else JOINT_SET


def read_2018(path, images, joint_set=JOINT_SET) -> ReadResult:
    # The 17-slot files mark annotated joints 1 (no occlusion flag); Bonn uses COCO's codes.
    vmap = VISIBILITY_2018 if joint_set == JOINT_SET else None
    return read_coco_style(path, images, source=NAME, joint_set=joint_set,
                           visibility_map=vmap,
                           image_filter=lambda img: bool(img.get("is_labeled", True)),
                           extra_regions=_ignore_polygons_2018)


# ---------------------------------------------------------------------------- 2017

def _one(value, default=None):
    """annolist JSON wraps scalars in 1-element lists (a MATLAB export): unwrap."""
    while isinstance(value, list):
        if not value:
            return default
        value = value[0]
    return default if value is None else value


def _person_2017(rect):
    points = []
    for ap in rect.get("annopoints") or []:
        points.extend(ap.get("point") or [])
    if not points:
        return None
    kp = np.zeros((15, 3), np.float32)
    for p in points:
        j = int(_one(p.get("id"), -1))
        if not 0 <= j < 15:
            raise Malformed(f"joint id {j} outside 0..14")
        x, y = float(_one(p.get("x"))), float(_one(p.get("y")))
        if not np.isfinite([x, y]).all():
            raise Malformed(f"joint {j} with non-finite position")
        visible = _one(p.get("is_visible"), 1)
        kp[j] = (x, y, 1 if str(visible) in ("0", "False", "false") else 2)
    coco = clear_unlabelled(JOINT_SETS[JOINT_SET_2017].to_coco(kp))
    if not (coco[:, 2] > 0).any():
        return None
    bbox = box_of_keypoints(coco)
    return {"keypoints": coco, "bbox": bbox, "area": bbox[2] * bbox[3],
            "track_id": int(_one(rect.get("track_id"), -1))}


def _rect_box(rect):
    """Head rectangle of a person without joints (the only box 2017 files give)."""
    try:
        x1, y1, x2, y2 = (float(_one(rect[k])) for k in ("x1", "y1", "x2", "y2"))
    except (KeyError, TypeError, ValueError):
        return None
    return ("box", [min(x1, x2), min(y1, y2), abs(x2 - x1), abs(y2 - y1)])


def _path_id(image: str, fallback: int) -> int:
    """All digits of the frame's path: sequence and frame number (unique per frame)."""
    digits = "".join(c for c in os.path.splitext(image)[0] if c.isdigit())
    return int(digits[-18:]) if digits else fallback


def read_2017(data, path, images) -> ReadResult:
    name = os.path.basename(path)
    entries, problems = [], []
    labelled = JOINT_SETS[JOINT_SET_2017].labelled()
    for i, frame in enumerate(data["annolist"]):
        try:
            image = str(_one(frame["image"])["name"])
            if not int(_one(frame.get("is_labeled"), 1)):
                continue
            people, ignore = [], []
            for rect in frame.get("annorect") or []:
                person = _person_2017(rect)
                if person is not None:
                    people.append(person)
                elif (box := _rect_box(rect)) is not None:
                    ignore.append(box)
            polys = []
            for region in frame.get("ignore_regions") or []:
                pts = [(float(_one(p["x"])), float(_one(p["y"]))) for p in region.get("point") or []]
                if len(pts) >= 3:
                    polys.append([v for xy in pts for v in xy])
            if polys:
                ignore.append(("polygon", polys))
        except (Malformed, KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"{name}: annolist[{i}]: {str(exc) or type(exc).__name__}; skipped")
            continue
        entries.append(make_entry(NAME, _path_id(image, i), image,
                                  resolve_image(images, image), people, labelled,
                                  ignore_regions=ignore, record=f"{name} annolist[{i}]"))
    return ReadResult(entries, problems)
