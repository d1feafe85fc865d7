"""Images nobody labelled with keypoints, for training against a teacher network.

Every entry is flagged "no labels": `labelled` is 17 zeros, so no keypoint heatmap or
PAF of the record is supervised by human labels (a teacher's maps are the targets).
People are only known by their boxes, if at all: one person per box, keypoints all
(0, 0, 0), bbox = the box, area = w * h, track id -1.

`--annotations` is either

- a COCO *detection* file (`images` + `annotations` with `bbox` and `category_id`, no
  keypoints; `--images` the folder its file names are relative to). Boxes of
  categories the file's `categories` list names as something other than "person" are
  ignored; crowd boxes (`iscrowd` 1) are not one person and go into the ignore mask,
  as in COCO. A box that is not four finite numbers or has a non-positive size, or
  whose image or category is unknown, is reported (file, image id, annotation id) and
  skipped (the image is kept); an image record without `file_name`/`id` likewise.
- a folder (`--images` the same folder, or one it lies in: names are relative to
  `--images`): every image file (.jpg .jpeg .png) under it, recursively and sorted,
  becomes an entry without people; every video (.mp4 .avi .mov .mkv) becomes entries
  for frames 0, S, 2S, ... (S = `frame_step`; frames counted with
  cv2.CAP_PROP_FRAME_COUNT) named `<video path>/frame_<index:06d>.jpg`.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np

from ...core.errors import PoseTfError
from ...core.keypoints import NUM_KEYPOINTS
from .base import ReadResult, load_json, make_entry, rel, resolve_image
from .coco import Malformed, _finite_list, _int_id

NAME = "unlabelled"
JOINT_SET = "coco17"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv")
FRAME_BITS = 20                     # image id = (hash of the path << FRAME_BITS) | frame


def no_labels() -> np.ndarray:
    return np.zeros(NUM_KEYPOINTS, bool)


def box_person(bbox) -> dict:
    return {"keypoints": np.zeros((NUM_KEYPOINTS, 3), np.float32), "bbox": list(bbox),
            "area": float(bbox[2]) * float(bbox[3]), "track_id": -1}


def read(annotations, images, frame_step: int = 1, **_) -> ReadResult:
    path = os.fspath(annotations)
    if os.path.isdir(path):
        return read_folder(path, os.fspath(images), frame_step)
    return read_detections(path, os.fspath(images))


# ---------------------------------------------------------------------------- detection JSON

def _check_box(ann) -> list:
    bbox = _finite_list(ann.get("bbox"), 4, "bbox")
    if bbox[2] <= 0 or bbox[3] <= 0:
        raise Malformed(f"bbox has non-positive size {bbox[2:]}")
    return bbox


def _person_categories(data):
    """(ids named "person", ids named otherwise), or None when the file lists no categories."""
    cats = data.get("categories")
    if not isinstance(cats, list) or not cats:
        return None
    person, other = set(), set()
    for cat in cats:
        if isinstance(cat, dict) and "id" in cat:
            (person if str(cat.get("name", "")).lower() == "person" else other).add(cat["id"])
    return person, other


def _member(value, values: set) -> bool:
    try:
        return value in values
    except TypeError:           # a list or dict where an id belongs
        return False


def read_detections(annotations: str, images: str) -> ReadResult:
    data = load_json(annotations)
    name = os.path.basename(annotations)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise PoseTfError(f"{annotations}: not a COCO-style file (no 'images' list)")
    categories = _person_categories(data)
    problems, records = [], []
    for img in data["images"]:
        try:
            image_id, file_name = img["id"], img["file_name"]
            hash(image_id)
            if not isinstance(file_name, str) or not file_name:
                raise ValueError("file_name")
            size = (int(img["height"]), int(img["width"])) if "height" in img else None
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{name}: image record {img!r:.80}: missing/invalid {exc}; skipped")
            continue
        records.append((image_id, file_name, size))
    known = {image_id for image_id, _, _ in records}
    people, crowds = {}, {}
    for i, ann in enumerate(data.get("annotations") or []):
        ann_id = ann.get("id", i) if isinstance(ann, dict) else i
        image_id = ann.get("image_id") if isinstance(ann, dict) else None
        try:
            if not isinstance(ann, dict):
                raise Malformed(f"not an object but {type(ann).__name__}")
            if not _member(image_id, known):
                raise Malformed("no image_id" if image_id is None
                                else f"image_id {image_id!r} is not in the images list")
            if categories is not None:
                person_ids, other_ids = categories
                category = ann.get("category_id")
                if _member(category, other_ids):
                    continue                     # not a person: ignored
                if not _member(category, person_ids):
                    raise Malformed(f"category_id {category!r} is not in the categories list")
            bbox = _check_box(ann)
        except Malformed as exc:
            problems.append(f"{name}: annotation {ann_id} (image {image_id}): {exc}; box skipped")
            continue
        if bool(ann.get("iscrowd", 0)):
            crowds.setdefault(image_id, []).append(("box", bbox))
        else:
            people.setdefault(image_id, []).append(box_person(bbox))
    entries = [
        make_entry(NAME, _int_id(image_id), file_name, resolve_image(images, file_name),
                   people.get(image_id, []), no_labels(), ignore_regions=crowds.get(image_id, []),
                   expected_size=size, record=f"{name} image {image_id}", images_root=images)
        for image_id, file_name, size in records]
    entries.sort(key=lambda e: (e.filename, e.image_id))
    return ReadResult(entries, problems)


# ---------------------------------------------------------------------------- folder

def _path_id(name: str, frame: int = 0) -> int:
    """A stable id from the file's name (and frame): 40 bits of SHA-1, then the frame."""
    digest = int(hashlib.sha1(name.encode("utf-8")).hexdigest()[:10], 16)
    return (digest << FRAME_BITS) | (frame & ((1 << FRAME_BITS) - 1))


def _media_files(folder: str) -> list:
    """Image and video files under `folder`, recursively, sorted by their relative path."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in files:
            if f.lower().endswith(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS):
                found.append(os.path.join(root, f))
    return sorted(found, key=lambda p: rel(p, folder))


def frame_count(path: str) -> int:
    """Frames of a video by cv2.CAP_PROP_FRAME_COUNT; PoseTfError if it does not open."""
    import cv2

    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise PoseTfError("video does not open (corrupt or unknown codec)")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    if count <= 0:
        raise PoseTfError("video reports no frames")
    return count


def read_folder(folder: str, images: str, frame_step: int = 1) -> ReadResult:
    root = os.path.realpath(images)
    inside = os.path.realpath(folder)
    if os.path.commonpath([root, inside]) != root:
        raise PoseTfError(f"{folder}: with a folder as --annotations, --images must be that "
                          f"folder (or one it lies in), not {images}")
    step = max(1, int(frame_step))
    entries, problems = [], []
    for path in _media_files(folder):
        name = rel(os.path.join(inside, os.path.relpath(path, folder)), root)
        if not path.lower().endswith(VIDEO_EXTENSIONS):
            entries.append(make_entry(NAME, _path_id(name), name, path, [], no_labels(),
                                      record=name, images_root=root))
            continue
        try:
            count = frame_count(path)
        except PoseTfError as exc:
            problems.append(f"{name}: {exc}; video skipped")
            continue
        for index in range(0, count, step):
            entries.append(make_entry(
                NAME, _path_id(name, index), f"{name}/frame_{index:06d}.jpg", path, [],
                no_labels(), frame_index=index, record=f"{name} frame {index}", images_root=root))
    if not entries and not problems:
        raise PoseTfError(f"{folder}: no image ({', '.join(IMAGE_EXTENSIONS)}) or video "
                          f"({', '.join(VIDEO_EXTENSIONS)}) files in this folder")
    return ReadResult(entries, problems)
