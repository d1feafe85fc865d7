"""Offline variants of a record: horizontal flip and rotations by 90, 180, 270 degrees.

As in the original project, rotated copies of the training set are written as records
of their own (`<prefix>-rot90-*.tfrecord`), so the online pipeline only has to add small
random rotations. Image, ignore mask, keypoints and boxes are transformed together:

    variant  image                      point (x, y) in a W x H image -> new (x, y)
    flip     mirrored left-right        (W - x, y), left/right joints swapped
    rot90    90 degrees clockwise       (H - y, x)          new size H x W
    rot180   180 degrees                (W - x, H - y)
    rot270   270 clockwise (= 90 ccw)   (y, W - x)          new size H x W

Records hold continuous coordinates (pose_tf.core.geometry: pixel i covers [i, i + 1)), so
one rule moves keypoints and box corners alike: a joint at the centre of pixel i
(i + 0.5) lands at the centre of the mirrored pixel W - 1 - i, and a box keeps covering
the same pixels. Unlabelled keypoints stay (0, 0, 0).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..core.errors import PoseTfError
from ..core.geometry import mirror_x
from ..core.keypoints import COCO_FLIP
from .records import Sample, decode_mask_png, encode_mask_png

VARIANT_NAMES = ("flip", "rot90", "rot180", "rot270")
JPEG_QUALITY = 95


def _cv2_op(variant):
    import cv2

    return {
        "flip": lambda im: cv2.flip(im, 1),
        "rot90": lambda im: cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE),
        "rot180": lambda im: cv2.rotate(im, cv2.ROTATE_180),
        "rot270": lambda im: cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE),
    }[variant]


def transform_points(xy: np.ndarray, variant: str, width: float, height: float) -> np.ndarray:
    """Map [..., 2] continuous points (keypoints or box corners) of a width x height frame."""
    x, y = xy[..., 0], xy[..., 1]
    if variant == "flip":
        out = (mirror_x(x, width), y)
    elif variant == "rot90":
        out = (mirror_x(y, height), x)
    elif variant == "rot180":
        out = (mirror_x(x, width), mirror_x(y, height))
    elif variant == "rot270":
        out = (y, mirror_x(x, width))
    else:
        raise PoseTfError(f"unknown variant {variant!r}; known: {', '.join(VARIANT_NAMES)}")
    return np.stack(out, axis=-1).astype(np.float32)


def transform_keypoints(kp: np.ndarray, variant: str, width: int, height: int) -> np.ndarray:
    kp = np.asarray(kp, np.float32).copy()
    kp[..., :2] = transform_points(kp[..., :2], variant, width, height)
    if variant == "flip":
        kp = kp[..., COCO_FLIP, :]
    kp[kp[..., 2] <= 0] = 0.0
    return kp


def transform_boxes(bbox: np.ndarray, variant: str, width: int, height: int) -> np.ndarray:
    bbox = np.asarray(bbox, np.float32).reshape(-1, 4)
    corners = np.stack([bbox[:, :2], bbox[:, :2] + bbox[:, 2:]], axis=1)   # [N, 2, 2]
    moved = transform_points(corners, variant, width, height)
    lo, hi = moved.min(axis=1), moved.max(axis=1)
    return np.concatenate([lo, hi - lo], axis=1)


def _encode_image(image: np.ndarray, fmt: str) -> bytes:
    import cv2

    if fmt == "png":
        ok, buf = cv2.imencode(".png", image)
    else:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise PoseTfError(f"could not re-encode an image as {fmt}")
    return buf.tobytes()


def apply_variant(sample: Sample, variant: str, image: np.ndarray | None = None) -> Sample:
    """The `variant` copy of an original sample (image re-encoded in its own format).

    `image` may pass the already decoded BGR pixels of `sample` to save a decode.
    """
    import cv2

    if sample.variant != "orig":
        raise PoseTfError(f"{sample.filename}: variants are made from 'orig' records, "
                          f"not from {sample.variant!r}")
    op = _cv2_op(variant) if variant in VARIANT_NAMES else None
    if op is None:
        raise PoseTfError(f"unknown variant {variant!r}; known: {', '.join(VARIANT_NAMES)}")
    if image is None:
        image = cv2.imdecode(np.frombuffer(sample.image_bytes, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise PoseTfError(f"{sample.filename}: image does not decode")
    new_image = op(image)
    w, h = sample.width, sample.height
    ignore = encode_mask_png(op(decode_mask_png(sample.ignore_png))) if sample.ignore_png else b""
    labelled = sample.labelled[COCO_FLIP] if variant == "flip" else sample.labelled
    return dataclasses.replace(
        sample, image_bytes=_encode_image(new_image, sample.image_format),
        height=new_image.shape[0], width=new_image.shape[1], variant=variant,
        keypoints=transform_keypoints(sample.keypoints, variant, w, h),
        bbox=transform_boxes(sample.bbox, variant, w, h), area=sample.area.copy(),
        track_id=sample.track_id.copy(), labelled=labelled.copy(), ignore_png=ignore)
