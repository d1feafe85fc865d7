"""Representative images for int8 calibration: real photos prepared as the estimator does.

Each image is letterboxed into the export's fixed input (aspect ratio kept, zero padding
bottom/right) exactly like `Estimator` feeds the network, so the activation ranges the
quantiser measures are the ones it will see at inference.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import numpy as np

from ..core.errors import PoseTfError

DEFAULT_COUNT = 100


def calibration_batches(folder, input_size: Tuple[int, int], count: int = DEFAULT_COUNT) -> List[np.ndarray]:
    """Up to `count` images of `folder` (evenly spread over its sorted files) as
    float32 RGB [1, H, W, 3] batches."""
    from ..inference.estimator import letterbox
    from ..io.images import list_images, read_image

    if folder is None:
        raise PoseTfError("--quantize int8 needs --calibration-images DIR (a folder of "
                          "photos like the ones the model will see; 100 or so is plenty)")
    folder = Path(folder)
    if not folder.is_dir():
        raise PoseTfError(f"calibration image folder not found: {folder}")
    if count < 1:
        raise PoseTfError(f"--calibration-count must be at least 1, got {count}")
    files = list_images(folder)
    picks = np.unique(np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int))
    batches = []
    for index in picks:
        canvas, _ = letterbox(read_image(files[index]), input_size, fixed_canvas=True)
        batches.append(canvas[None].astype(np.float32))
    return batches
