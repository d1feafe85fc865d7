"""Video and webcam frames in, drawn video out (OpenCV), with errors that name the source."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..core.errors import PoseTfError
from .files import atomic_output

log = logging.getLogger(__name__)


class VideoSource:
    """Iterate RGB frames of a video file or webcam (an integer index).

    A file whose header promises more frames than it delivers ends with a warning, not an
    error: every frame that could be read is kept.
    """

    def __init__(self, source, max_frames: int = 0):
        self.name = str(source)
        self.is_webcam = isinstance(source, int) or str(source).isdigit()
        if not self.is_webcam and not os.path.isfile(self.name):
            raise PoseTfError(f"video not found: {self.name}")
        self._cap = cv2.VideoCapture(int(source) if self.is_webcam else self.name)
        if not self._cap.isOpened():
            what = "webcam" if self.is_webcam else "video"
            raise PoseTfError(f"{self.name}: cannot open {what}")
        self.fps = self._cap.get(cv2.CAP_PROP_FPS) or 25.0
        declared = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.declared_frames = declared if declared > 0 and not self.is_webcam else 0
        self.max_frames = max_frames
        self.frames_read = 0

    def __len__(self):
        n = self.declared_frames
        return min(n, self.max_frames) if self.max_frames and n else (n or self.max_frames)

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            while not self.max_frames or self.frames_read < self.max_frames:
                ok, frame = self._cap.read()
                if not ok or frame is None:
                    break
                self.frames_read += 1
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            self._cap.release()
        if self.frames_read == 0:
            raise PoseTfError(f"{self.name}: no frame could be read")
        wanted = len(self)
        if wanted and self.frames_read < wanted:
            log.warning("%s: video ended early, after %d of %d frames", self.name,
                        self.frames_read, wanted)


class VideoWriter:
    """MP4 writer that appears at `path` only when closed (written to a temp file first,
    `atomic_output`; the writer spans calls, so it drives the context by hand)."""

    def __init__(self, path, fps: float, size_wh):
        self.path = Path(path)
        self._output = atomic_output(self.path)
        self._tmp = self._output.__enter__()
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"),
                                       float(fps), tuple(int(v) for v in size_wh))
        if not self._writer.isOpened():
            error = PoseTfError(f"{self.path}: cannot open video for writing")
            self._output.__exit__(PoseTfError, error, None)
            raise error

    def write(self, frame_rgb: np.ndarray) -> None:
        self._writer.write(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self._writer.release()
        self._output.__exit__(None, None, None)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc=None, tb=None):
        if exc_type is None:
            self.close()
        else:  # leave nothing half-written behind
            self._writer.release()
            self._output.__exit__(exc_type, exc, tb)
