"""What every dataset reader produces, and how an entry becomes a `records.Sample`.

A reader parses one source's annotation files into `Entry`s: light, picklable
descriptions of one image (where its pixels are, its people in COCO-17, the regions the
loss must ignore). Readers never touch pixels, so they are fast and run in the main
process; `build_sample` (run in worker processes) reads and checks the image bytes,
rasterises the ignore regions and returns the `Sample` that is written to the records.

Coordinates: readers keep their source's keypoints as they are, pixel indices (the
centre of pixel i is i); `build_sample`, which every entry goes through, converts them
once to the package's continuous convention (pose_tf.core.geometry: centre at i + 0.5), so
records hold continuous keypoints. Boxes and ignore regions are edge-based: unchanged.

Orientation: a JPEG whose EXIF orientation is not upright is re-encoded upright without
EXIF (`check_image`), so the record's bytes decode the same in cv2 (which applies the
orientation, as the converter and inference do) and in tf.io.decode_image (training).

Malformed annotation entries are not fatal: a reader adds a line naming the file and
record to `ReadResult.problems` and skips the entry, so one bad person does not stop a
conversion of 100k images.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np

from ...core.errors import PoseTfError
from ...core.geometry import index_to_continuous
from ...core.keypoints import NUM_KEYPOINTS
from ...io import files
from .. import records


@dataclass
class Entry:
    """One image to convert, its people already in COCO-17 (x, y, v)."""

    source: str
    image_id: int
    filename: str                 # stored in image/filename (relative to --images)
    image_path: str               # file to read (a video for video sources)
    keypoints: np.ndarray         # [N, 17, 3], the source's pixel indices
    bbox: np.ndarray              # [N, 4] x, y, w, h
    area: np.ndarray              # [N]
    track_id: np.ndarray          # [N]
    labelled: np.ndarray          # [17] bool
    # Regions the loss ignores: ("polygon", [[x0, y0, x1, y1, ...], ...]),
    # ("rle", {"size": [h, w], "counts": ...}) or ("box", [x, y, w, h]).
    ignore_regions: list = field(default_factory=list)
    expected_size: tuple | None = None   # (height, width) the annotation states
    frame_index: int | None = None       # frame of a video file (NTU)
    record: str = ""                     # where it came from, for reports
    # The folder (--images) the image must lie in: `image_path` comes from a data file, so
    # one outside it ('..', a symlink out) is refused before it is opened. Every reader sets
    # it; None only for entries built by hand from a path the caller chose.
    images_root: str | None = None


@dataclass
class ReadResult:
    entries: list
    problems: list = field(default_factory=list)   # "file: record: what is wrong"


def make_entry(source, image_id, filename, image_path, people, labelled, **kw) -> Entry:
    """Entry from a list of people dicts with keys keypoints [17,3], bbox, area, track_id."""
    n = len(people)
    kp = np.array([p["keypoints"] for p in people], np.float32).reshape(n, NUM_KEYPOINTS, 3)
    bbox = np.array([p["bbox"] for p in people], np.float32).reshape(n, 4)
    area = np.array([p.get("area") or (p["bbox"][2] * p["bbox"][3]) for p in people],
                    np.float32).reshape(n)
    track = np.array([p.get("track_id", -1) for p in people], np.int64).reshape(n)
    return Entry(source=source, image_id=int(image_id), filename=filename, image_path=image_path,
                 keypoints=kp, bbox=bbox, area=area, track_id=track,
                 labelled=np.asarray(labelled, bool), **kw)


def box_of_keypoints(kp: np.ndarray) -> list:
    """Tight (x, y, w, h) box around the labelled keypoints of one person [17, 3]."""
    pts = kp[kp[:, 2] > 0, :2]
    if len(pts) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    lo, hi = pts.min(0), pts.max(0)
    return [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]


def clear_unlabelled(kp: np.ndarray) -> np.ndarray:
    """Zero x, y wherever v == 0, so 'absent' is always (0, 0, 0)."""
    kp = np.asarray(kp, np.float32).copy()
    kp[kp[..., 2] <= 0] = 0.0
    return kp


def image_id_from_name(name: str, fallback: int) -> int:
    """The digits of a file name as an id (MPII '005808361.jpg' -> 5808361), else fallback."""
    digits = re.sub(r"\D", "", os.path.splitext(os.path.basename(name))[0])
    return int(digits[-18:]) if digits else int(fallback)


def resolve_image(images_dir: str, name: str) -> str:
    """Path of image `name` under `images_dir`, trying the name as given, then trailing
    parts of it (annotations often store 'images/val/x/000.jpg' or 'val2017/0001.jpg').

    A name leading outside `images_dir` comes back as it is, outside, and no fallback is
    tried: `read_image_bytes` refuses it (entry.images_root) and the converter counts it."""
    parts = files.name_parts(name)
    whole = os.path.join(images_dir, *parts)
    if not files.inside_folder(images_dir, whole):
        return whole
    for i in range(len(parts)):
        path = os.path.join(images_dir, *parts[i:])
        if files.inside_folder(images_dir, path) and os.path.exists(path):
            return path
    return whole


# ---------------------------------------------------------------------------- samples

def sniff_format(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


def check_image(data: bytes, where: str):
    """Decode image bytes; return (format, bytes, height, width) or raise PoseTfError.

    A JPEG without its end-of-image marker is rejected even if OpenCV decodes part of
    it: a truncated download would otherwise train on grey bands. A JPEG with an EXIF
    orientation other than 1 comes back re-encoded upright (quality 95, no EXIF): cv2
    decodes it upright, tf.io.decode_image would not, and the labels are of the upright
    image.
    """
    import cv2

    from ...io.images import jpeg_orientation

    if not data:
        raise PoseTfError(f"{where}: empty image file")
    fmt = sniff_format(data)
    if fmt == "jpeg" and data.rfind(b"\xff\xd9") < 0:
        raise PoseTfError(f"{where}: truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise PoseTfError(f"{where}: image does not decode (corrupt or not an image)")
    if fmt is None:     # e.g. BMP: store as PNG, the schema knows only jpeg/png
        ok, buf = cv2.imencode(".png", image)
        fmt, data = "png", buf.tobytes()
    elif fmt == "jpeg" and jpeg_orientation(data) != 1:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise PoseTfError(f"{where}: could not re-encode the EXIF-rotated JPEG upright")
        data = buf.tobytes()
    return fmt, data, image.shape[0], image.shape[1]


def read_image_bytes(entry: Entry) -> bytes:
    """The encoded bytes of the entry's image (a JPEG of the frame for video sources); a
    file outside the entry's images_root is refused before it is opened."""
    if entry.images_root is not None:
        files.require_inside(entry.images_root, entry.image_path, entry.filename)
    if entry.frame_index is None:
        if not os.path.exists(entry.image_path):
            raise PoseTfError(f"{entry.image_path}: image not found")
        try:
            with open(entry.image_path, "rb") as f:
                return f.read()
        except OSError as exc:
            raise PoseTfError(f"{entry.image_path}: cannot read image ({exc.strerror})") from None
    return read_video_frame(entry.image_path, entry.frame_index)


def read_video_frame(path: str, index: int) -> bytes:
    import cv2

    if not os.path.exists(path):
        raise PoseTfError(f"{path}: video not found")
    cap = cv2.VideoCapture(path)
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok:
        raise PoseTfError(f"{path}: cannot read frame {index}")
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return buf.tobytes()


def rasterise(regions, height: int, width: int) -> np.ndarray:
    """uint8 [H, W] mask, 255 inside any region (polygons / RLE / boxes via pycocotools)."""
    from pycocotools import mask as mask_utils

    out = np.zeros((height, width), np.uint8)
    for kind, data in regions:
        if kind == "box":
            x, y, w, h = data
            data = [[x, y, x + w, y, x + w, y + h, x, y + h]]
            kind = "polygon"
        if kind == "polygon":
            polys = [list(map(float, p)) for p in data if len(p) >= 6]
            if not polys:
                continue
            rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
        elif kind == "rle":
            if isinstance(data.get("counts"), list):       # uncompressed (COCO crowd)
                rle = mask_utils.frPyObjects(data, *data["size"])
            else:
                counts = data["counts"]
                rle = {"size": list(data["size"]),
                       "counts": counts.encode() if isinstance(counts, str) else counts}
            if tuple(rle["size"]) != (height, width):
                raise PoseTfError(f"RLE of size {tuple(rle['size'])} on an image of "
                                  f"size {(height, width)}")
        else:
            raise ValueError(f"unknown region kind {kind!r}")
        out |= mask_utils.decode(rle).astype(bool).astype(np.uint8) * 255
    return out


def build_sample(entry: Entry) -> records.Sample:
    """Read and check the entry's image, rasterise its ignore regions -> `Sample`, its
    keypoints converted from the source's pixel indices to continuous coordinates.

    Raises PoseTfError naming the image for a missing/corrupt image or a size that
    disagrees with the annotation (keypoints would land in the wrong place).
    """
    data = read_image_bytes(entry)
    fmt, data, height, width = check_image(data, entry.image_path)
    if entry.expected_size is not None and tuple(entry.expected_size) != (height, width):
        raise PoseTfError(f"{entry.image_path}: image is {width}x{height} but the annotation "
                          f"({entry.record}) says {entry.expected_size[1]}x{entry.expected_size[0]}")
    try:
        mask = rasterise(entry.ignore_regions, height, width)
    except PoseTfError as exc:
        raise PoseTfError(f"{entry.record}: {exc}") from None
    return records.Sample(
        image_bytes=data, image_format=fmt, height=height, width=width,
        image_id=entry.image_id, filename=entry.filename, source=entry.source, variant="orig",
        keypoints=index_to_continuous(clear_unlabelled(entry.keypoints)),   # the one conversion
        bbox=entry.bbox, area=entry.area, track_id=entry.track_id, labelled=entry.labelled,
        ignore_png=records.encode_mask_png(mask))


def load_json(path):
    return files.load_json(path, "annotation file")


def rel(path: str, root: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")
