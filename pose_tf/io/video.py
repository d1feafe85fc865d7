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
    `atomic_output`; the writer spans calls, so it drives the context by hand).

    Without `size_wh` the file is opened by the first frame, at that frame's size, so a
    caller can enter `with VideoWriter(...)` before it knows the size: leaving the block on
    an error or an interrupt then removes the temp file (nothing half-written is left).
    """

    def __init__(self, path, fps: float, size_wh=None):
        self.path = Path(path)
        self.fps = float(fps)
        self._output = self._writer = None
        if size_wh is not None:
            self._open(size_wh)

    def _open(self, size_wh) -> None:
        output = atomic_output(self.path)
        tmp = output.__enter__()
        self._output = output
        self._writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                       tuple(int(v) for v in size_wh))
        if not self._writer.isOpened():
            error = PoseTfError(f"{self.path}: cannot open video for writing")
            self._finish(PoseTfError, error, None)
            raise error

    def write(self, frame_rgb: np.ndarray) -> None:
        if self._output is None:
            self._open((frame_rgb.shape[1], frame_rgb.shape[0]))
        self._writer.write(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        """Finish the file (a writer that never got a frame writes nothing)."""
        self._finish()

    def _finish(self, exc_type=None, exc=None, tb=None) -> None:
        """Release the file: renamed into place, or after an error removed, so nothing
        half-written is left behind."""
        output, self._output = self._output, None
        if output is None:
            return
        if self._writer is not None:
            self._writer.release()
        output.__exit__(exc_type, exc, tb)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc=None, tb=None):
        self._finish(exc_type, exc, tb)
