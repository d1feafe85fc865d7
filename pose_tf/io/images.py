"""Reading images with errors that name the file, and finding the inputs of a run."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import List

import cv2
import numpy as np

from ..errors import PoseTfError
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


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Encoded image bytes -> RGB uint8 [H, W, 3]; PoseTfError naming `name` otherwise."""
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
