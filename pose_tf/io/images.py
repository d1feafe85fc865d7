"""Reading images with errors that name the file, and finding the inputs of a run."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import List

import cv2
import numpy as np

from ..core.errors import PoseTfError
from .files import write_bytes_atomic

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


def _truncation(data: bytes) -> str:
    """Why `data` is a truncated JPEG/PNG, or '' (OpenCV decodes those with a warning)."""
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-64:].rstrip(b"\x00"):
        return "truncated JPEG (no end-of-image marker)"
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-32:]:
        return "truncated PNG (no IEND chunk)"
    return ""


def jpeg_orientation(data: bytes) -> int:
    """The EXIF orientation (1..8) of JPEG bytes; 1 (upright) when there is none.

    Reads the APP1 "Exif" segment's first IFD by hand (no imaging library needed).
    cv2.imdecode applies this orientation, tf.io.decode_image does not.
    """
    import struct

    if data[:2] != b"\xff\xd8":
        return 1
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return 1
        marker = data[pos + 1]
        if marker == 0xFF:          # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no more headers
            return 1
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segment = data[pos + 4:pos + 2 + length]
        if marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
            return _tiff_orientation(segment[6:])
        pos += 2 + length
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    import struct

    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(order + "H", tiff[ifd:ifd + 2])
    for i in range(count):
        entry = tiff[ifd + 2 + 12 * i: ifd + 14 + 12 * i]
        if len(entry) < 12:
            break
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag == 0x0112 and kind == 3:           # Orientation, SHORT
            (value,) = struct.unpack(order + "H", entry[8:10])
            return int(value) if 1 <= value <= 8 else 1
    return 1


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Encoded image bytes -> RGB uint8 [H, W, 3], upright (EXIF orientation applied, as
    cv2 does); PoseTfError naming `name` otherwise."""
    if not data:
        raise PoseTfError(f"{name}: empty file")
    problem = _truncation(data)
    if problem:
        raise PoseTfError(f"{name}: {problem}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise PoseTfError(f"{name}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_image(path) -> np.ndarray:
    """Read an image file as RGB uint8 [H, W, 3]."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise PoseTfError(f"image not found: {path}") from None
    except IsADirectoryError:
        raise PoseTfError(f"{path}: is a folder, not an image") from None
    except OSError as exc:
        raise PoseTfError(f"{path}: cannot read ({exc.strerror})") from None
    return decode_image(data, path)


class ImageFrames:
    """The frames of a folder run (demo, track): (path, RGB image) per file, in order.

    A file that does not decode (a truncated frame, a stray non-image) is not the end of
    the run: it is skipped with one warning line naming it, yielded as (path, None) so a
    caller can keep its place (track keeps the frame, with nobody in it), and counted in
    `skipped`. If no file at all can be read that is a PoseTfError naming `source`.
    """

    def __init__(self, files, source):
        self.files = list(files)
        self.source = source
        self.skipped = 0

    def __len__(self):
        return len(self.files)

    def __iter__(self):
        for path in self.files:
            try:
                image = read_image(path)
            except PoseTfError as exc:
                log.warning("skipped %s", exc)
                self.skipped += 1
                image = None
            yield path, image
        if self.files and self.skipped == len(self.files):
            raise PoseTfError(f"{self.source}: none of the {len(self.files)} image(s) could be read")

    def summary(self) -> str:
        """'' or the line that reports the skipped files."""
        return f"skipped {self.skipped} unreadable image(s) of {len(self.files)}" if self.skipped else ""


def write_image(path, image_rgb: np.ndarray) -> None:
    """Write RGB `image_rgb` atomically (temp file + rename); format from the suffix."""
    path = Path(path)
    ok, buf = cv2.imencode(path.suffix or ".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise PoseTfError(f"{path}: cannot encode image")
    write_bytes_atomic(path, buf.tobytes())


def list_images(folder) -> List[Path]:
    """Image files of a folder, sorted by name; error if there are none."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise PoseTfError(f"{folder}: no images in folder (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def input_kind(source: str) -> str:
    """'webcam', 'folder', 'video' or 'image' for a demo/track input; error if missing."""
    if source.isdigit():
        return "webcam"
    path = Path(source)
    if not path.exists():
        raise PoseTfError(f"input not found: {source}")
    if path.is_dir():
        return "folder"
    return "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"
