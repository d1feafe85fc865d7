"""MPII Human Pose: the official MATLAB annotation and the common JSON form.

- Official `mpii_human_pose_v1_u12_1.mat` (read with scipy.io.loadmat): `RELEASE` with
  `annolist(i).image.name`, `annolist(i).annorect(p)` holding `annopoints.point` (`id`
  0..15, `x`, `y`, `is_visible`), `objpos` and `scale` (person height / 200 px), and
  `img_train(i)` (1 = training image; test images carry no joints and are skipped).
  People without `annopoints` are unannotated people: their rough box (objpos +- scale
  * 100) goes into the ignore mask.
- JSON form (HRNet / MMPose `mpii_*.json`): a list with one entry per person:
  {"image", "joints": [[x, y]] * 16, "joints_vis": [0/1] * 16, "center", "scale"}.

MPII stores MATLAB 1-based pixel coordinates; we subtract 1 (as the HRNet loaders do) to
get the 0-based pixels of the rest of the package. Pelvis, thorax, upper neck and head
top have no COCO-17 joint; nose, eyes and ears are flagged unlabelled. The JSON form
records only "annotated", not occlusion, so its joints get v = 2.
"""
from __future__ import annotations

import os

import numpy as np

from ...core.errors import PoseTfError
from ...core.keypoints import JOINT_SETS
from .base import (ReadResult, box_of_keypoints, clear_unlabelled, image_id_from_name,
                   load_json, make_entry, resolve_image)
from .coco import Malformed, _finite_list

NAME = "mpii"
JOINT_SET = "mpii16"
NUM_JOINTS = 16


def read(annotations, images, **_) -> ReadResult:
    path = os.fspath(annotations)
    if path.lower().endswith(".mat"):
        return read_mat(path, os.fspath(images))
    return read_json(path, os.fspath(images))


def _person(kp16: np.ndarray) -> dict:
    kp = clear_unlabelled(JOINT_SETS[JOINT_SET].to_coco(kp16))
    bbox = box_of_keypoints(kp)
    return {"keypoints": kp, "bbox": bbox, "area": bbox[2] * bbox[3]}


def _entries(groups, images, name) -> list:
    """groups: {image name: (people, ignore regions)} -> sorted entries."""
    labelled = JOINT_SETS[JOINT_SET].labelled()
    entries = []
    for index, (image, (people, ignore)) in enumerate(sorted(groups.items())):
        entries.append(make_entry(NAME, image_id_from_name(image, index), image,
                                  resolve_image(images, image), people, labelled,
                                  ignore_regions=ignore, record=f"{name} image {image}",
                                  images_root=images))
    return entries


# ---------------------------------------------------------------------------- JSON form

def _json_person(item) -> dict:
    joints = item.get("joints")
    if not isinstance(joints, list) or len(joints) != NUM_JOINTS:
        raise Malformed(f"'joints' must list {NUM_JOINTS} [x, y] pairs")
    xy = np.array([_finite_list(j, 2, f"joint {i}") for i, j in enumerate(joints)], np.float32)
    vis = np.array(_finite_list(item.get("joints_vis"), NUM_JOINTS, "joints_vis"), np.float32)
    kp = np.zeros((NUM_JOINTS, 3), np.float32)
    labelled = (vis > 0) & (xy >= 0).all(1)
    kp[:, :2] = xy - 1.0
    kp[:, 2] = np.where(labelled, 2, 0)
    return _person(kp)


def read_json(path, images) -> ReadResult:
    data = load_json(path)
    name = os.path.basename(path)
    if not isinstance(data, list):
        raise PoseTfError(f"{path}: MPII JSON must be a list of person entries")
    groups, problems, bad = {}, [], set()
    for i, item in enumerate(data):
        image = item.get("image") if isinstance(item, dict) else None
        try:
            if not isinstance(image, str):
                raise Malformed("no 'image' name")
            person = _json_person(item)
        except Malformed as exc:
            problems.append(f"{name}: entry {i} (image {image}): {exc}; image skipped")
            bad.add(image)
            continue
        groups.setdefault(image, ([], []))[0].append(person)
    for image in bad:
        groups.pop(image, None)
    return ReadResult(_entries(groups, images, name), problems)


# ---------------------------------------------------------------------------- official .mat

def _as_list(value):
    """loadmat(squeeze_me=True) gives a struct, an array of structs, or an empty array."""
    if value is None:
        return []
    if isinstance(value, np.ndarray):
        return list(value.reshape(-1))
    return [value]


def _scalar(value, default=None):
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return default
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, str)):
        value = value.decode() if isinstance(value, bytes) else value
        return float(value) if value.strip() else default
    return float(value)


def _mat_person(rect):
    """One annorect -> ("person", dict) | ("ignore", box) | (None, None)."""
    points = _as_list(getattr(getattr(rect, "annopoints", None), "point", None))
    if not points:
        objpos, scale = getattr(rect, "objpos", None), _scalar(getattr(rect, "scale", None))
        if objpos is None or scale is None or isinstance(objpos, np.ndarray):
            return None, None          # no position at all: nothing to ignore
        half = scale * 100.0
        cx, cy = _scalar(objpos.x) - 1, _scalar(objpos.y) - 1
        return "ignore", ("box", [cx - half, cy - half, 2 * half, 2 * half])
    kp = np.zeros((NUM_JOINTS, 3), np.float32)
    for p in points:
        j = int(_scalar(p.id))
        if not 0 <= j < NUM_JOINTS:
            raise Malformed(f"joint id {j} outside 0..15")
        x, y = _scalar(p.x), _scalar(p.y)
        if x is None or y is None or not np.isfinite([x, y]).all():
            raise Malformed(f"joint {j} without finite x/y")
        visible = _scalar(getattr(p, "is_visible", None), default=1.0)
        kp[j] = (x - 1.0, y - 1.0, 2 if visible else 1)
    return "person", _person(kp)


def read_mat(path, images) -> ReadResult:
    import scipy.io

    from ...core.errors import require_file

    require_file(path, "annotation file")
    try:
        mat = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)
        release = mat["RELEASE"]
        annolist = _as_list(release.annolist)
        train = np.asarray(release.img_train).reshape(-1)
    except (KeyError, AttributeError, ValueError, TypeError, OSError) as exc:
        raise PoseTfError(f"{path}: not an MPII RELEASE annotation ({exc})") from None
    name = os.path.basename(path)
    groups, problems = {}, []
    for i, item in enumerate(annolist):
        if i < len(train) and not train[i]:
            continue                    # test image: no joints are published
        try:
            image = str(item.image.name)
            people, ignore = [], []
            for rect in _as_list(getattr(item, "annorect", None)):
                kind, value = _mat_person(rect)
                if kind == "person":
                    people.append(value)
                elif kind == "ignore":
                    ignore.append(value)
        except (Malformed, AttributeError, TypeError, ValueError) as exc:
            problems.append(f"{name}: annolist({i + 1}): {exc}; image skipped")
            continue
        if people:
            groups[image] = (people, ignore)
    return ReadResult(_entries(groups, images, name), problems)
