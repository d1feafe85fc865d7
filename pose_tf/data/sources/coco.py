"""COCO keypoints (person_keypoints_*.json) and the COCO-style files of other datasets.

People with at least one labelled keypoint become persons. Crowd regions (`iscrowd` 1,
RLE or polygons) and people without keypoints (their segment, else their box) go into
the ignore mask: they are people the loss must not call background. CrowdPose, OCHuman
and MMPose-style AI Challenger files share this layout with their own joint order, so
their readers call `read_coco_style` with their joint set.
"""
from __future__ import annotations

import math
import os

import numpy as np

from ...core.keypoints import JOINT_SETS
from .base import ReadResult, clear_unlabelled, load_json, make_entry, resolve_image

NAME = "coco"
JOINT_SET = "coco17"


class Malformed(ValueError):
    """An annotation entry that cannot be used; the message says what is wrong."""


def _finite_list(value, length, what):
    if not isinstance(value, (list, tuple)) or len(value) != length:
        got = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
        raise Malformed(f"{what} must be a list of {length} numbers, got {got}")
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        raise Malformed(f"{what} holds a non-number") from None
    if not all(math.isfinite(v) for v in out):
        raise Malformed(f"{what} holds NaN or infinity")
    return out


def segmentation_regions(seg):
    """COCO `segmentation` -> ignore regions ([] when absent/empty)."""
    if not seg:
        return []
    if isinstance(seg, dict):
        if "counts" not in seg or "size" not in seg:
            raise Malformed("RLE segmentation without 'counts'/'size'")
        return [("rle", seg)]
    if isinstance(seg, list):
        polys = [p for p in seg if isinstance(p, list) and len(p) >= 6]
        return [("polygon", polys)] if polys else []
    raise Malformed(f"segmentation of type {type(seg).__name__}")


def parse_person(ann, joint_set, visibility_map=None):
    """One COCO-style annotation -> (person dict or None, ignore regions).

    `visibility_map` maps the source's v codes onto COCO's (0 absent, 1 occluded,
    2 visible); codes not in the map raise Malformed.
    """
    num = len(joint_set.names)
    kp = np.array(_finite_list(ann.get("keypoints"), 3 * num, "keypoints"), np.float32)
    kp = kp.reshape(num, 3)
    codes = kp[:, 2].astype(int)
    vmap = visibility_map or {0: 0, 1: 1, 2: 2}
    bad = sorted(set(codes.tolist()) - set(vmap))
    if bad:
        raise Malformed(f"keypoint visibility {bad[0]} not one of {sorted(vmap)}")
    kp[:, 2] = [vmap[c] for c in codes]
    bbox = _finite_list(ann.get("bbox"), 4, "bbox")
    if bbox[2] < 0 or bbox[3] < 0:
        raise Malformed(f"bbox has negative size {bbox[2:]}")
    seg_regions = segmentation_regions(ann.get("segmentation"))
    if bool(ann.get("iscrowd", 0)):
        return None, seg_regions or [("box", bbox)]
    coco_kp = clear_unlabelled(joint_set.to_coco(kp))
    if not (coco_kp[:, 2] > 0).any():      # nobody labelled this person: do not learn background
        return None, seg_regions or [("box", bbox)]
    area = ann.get("area")
    area = float(area) if isinstance(area, (int, float)) and area > 0 else bbox[2] * bbox[3]
    person = {"keypoints": coco_kp, "bbox": bbox, "area": area,
              "track_id": int(ann.get("track_id", -1)) if ann.get("track_id") is not None else -1}
    return person, []


def read_coco_style(annotations, images, *, source, joint_set, visibility_map=None,
                    image_filter=None, extra_regions=None) -> ReadResult:
    """Read a COCO-style keypoint file. `image_filter(img) -> bool` drops images (e.g.
    unlabelled PoseTrack frames); `extra_regions(img) -> regions` adds per-image ignore
    regions. An image with a malformed image record or person annotation is skipped and
    reported (file, image id, annotation id, reason)."""
    joints = JOINT_SETS[joint_set]
    data = load_json(annotations)
    name = os.path.basename(os.fspath(annotations))
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        from ...core.errors import PoseTfError
        raise PoseTfError(f"{annotations}: not a COCO-style file (no 'images' list)")
    problems, bad_images = [], set()
    by_image = {}
    for i, ann in enumerate(data.get("annotations") or []):
        image_id = ann.get("image_id") if isinstance(ann, dict) else None
        try:
            if image_id is None:
                raise Malformed("no image_id")
            person, regions = parse_person(ann, joints, visibility_map)
        except Malformed as exc:
            problems.append(f"{name}: annotation {ann.get('id', i) if isinstance(ann, dict) else i} "
                            f"(image {image_id}): {exc}; image skipped")
            bad_images.add(image_id)
            continue
        people, ignore = by_image.setdefault(image_id, ([], []))
        if person is not None:
            people.append(person)
        ignore.extend(regions)
    entries = []
    labelled = joints.labelled()
    for img in data["images"]:
        try:
            image_id, file_name = img["id"], img["file_name"]
            size = (int(img["height"]), int(img["width"])) if "height" in img else None
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{name}: image record {img!r:.80}: missing/invalid {exc}; skipped")
            continue
        if image_id in bad_images or (image_filter and not image_filter(img)):
            continue
        people, ignore = by_image.get(image_id, ([], []))
        regions = list(ignore) + (extra_regions(img) if extra_regions else [])
        entries.append(make_entry(
            source, _int_id(image_id), file_name, resolve_image(os.fspath(images), file_name),
            people, labelled, ignore_regions=regions, expected_size=size,
            record=f"{name} image {image_id}", images_root=os.fspath(images)))
    entries.sort(key=lambda e: (e.filename, e.image_id))
    return ReadResult(entries, problems)


def _int_id(image_id):
    """Integer image id; string ids (AI Challenger hashes) map to 60 bits of their SHA-1."""
    import hashlib

    try:
        return int(image_id)
    except (TypeError, ValueError):
        return int(hashlib.sha1(str(image_id).encode()).hexdigest()[:15], 16)


def read(annotations, images, **_) -> ReadResult:
    return read_coco_style(annotations, images, source=NAME, joint_set=JOINT_SET)
