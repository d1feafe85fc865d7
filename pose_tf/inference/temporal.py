"""Temporal aggregation of maps across video frames (the idea of PoseWarper, Bertasius et
al., NeurIPS 2019, with dense optical flow in place of its learned warping).

The maps (heatmaps and PAFs) of up to `window` neighbouring frames are warped onto the
current frame with dense optical flow and averaged with weights that fall with the
distance in frames (`decay` per frame) and with the flow's forward-backward disagreement,
then decoded once by the usual peaks + grouping. `online` uses past frames only (no added
latency); `offline` uses both sides (the output lags by `window` frames).

Flow: OpenCV's DIS (Kroeger et al., ECCV 2016) on grey images sampled at `flow_scale`
points per map cell, so its cost is tied to the maps' resolution, not the video's. The
flow is read at the cell centres and expressed in cells. PAF vectors are moved, not
rotated: people rotate little between neighbouring frames.

All frames of a video share one size, hence one letterbox and one cell -> image mapping
(`cell_to_image`); a frame of another size is aggregated with nothing.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Dict, Iterable, Iterator, Optional, Tuple

import numpy as np

MODES = ("online", "offline")


@dataclass(frozen=True)
class TemporalSettings:
    window: int = 2               # neighbouring frames on each side used
    mode: str = "online"          # "online": past frames only; "offline": both sides
    decay: float = 0.5            # weight of a frame d steps away: decay ** d (x confidence)
    flow_scale: int = 2           # flow pixels per map cell
    consistency_cells: float = 0.5  # forward-backward error (cells) where confidence is e^-1

    def __post_init__(self):
        if self.window < 1:
            raise ValueError(f"temporal window must be >= 1, got {self.window}")
        if self.mode not in MODES:
            raise ValueError(f"temporal mode must be one of {MODES}, got {self.mode!r}")
        if not 0 < self.decay <= 1 or self.flow_scale < 1 or self.consistency_cells <= 0:
            raise ValueError(f"temporal settings out of range: {self}")


@dataclass
class _Frame:
    """What aggregation keeps of a frame: its own (raw) maps, its flow grid, and its flows
    to other frames (by their serial number)."""
    item: object
    image: Optional[np.ndarray]
    maps: Optional[np.ndarray]
    cell_to_image: Optional[Tuple[float, float, float, float]]
    serial: int = 0
    grey: Optional[np.ndarray] = None     # sampled at flow_scale points per cell
    flows: Dict[int, np.ndarray] = field(default_factory=dict)


def flow_grid(image: np.ndarray, cell_to_image, maps_hw, flow_scale: int) -> np.ndarray:
    """The image in grey, sampled at `flow_scale` x `flow_scale` points per map cell (area
    averaged first, so no aliasing): uint8 [H * k, W * k]."""
    import cv2

    sx, sy, ox, oy = cell_to_image
    k = flow_scale
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    # Image pixels per flow pixel; shrink by it with area averaging, then place exactly.
    fx, fy = sx / k, sy / k
    small_w = max(1, int(round(grey.shape[1] / fx)))
    small_h = max(1, int(round(grey.shape[0] / fy)))
    small = cv2.resize(grey, (small_w, small_h), interpolation=cv2.INTER_AREA)
    ax, ay = small_w / grey.shape[1], small_h / grey.shape[0]
    # Flow pixel u has its centre at cell (u + 0.5) / k - 0.5, image x = sx * cell + ox,
    # small-image x = image x * ax; cv2 samples at pixel indices (continuous - 0.5).
    matrix = np.array([[sx * ax / k, 0.0, (sx * (0.5 / k - 0.5) + ox) * ax - 0.5],
                       [0.0, sy * ay / k, (sy * (0.5 / k - 0.5) + oy) * ay - 0.5]], np.float64)
    size = (maps_hw[1] * k, maps_hw[0] * k)
    return cv2.warpAffine(small, matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


class FlowField:
    """DIS optical flow between two flow grids, read at the map cells, in cells."""

    def __init__(self, flow_scale: int):
        import cv2

        self.k = flow_scale
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)

    def __call__(self, grey_from: np.ndarray, grey_to: np.ndarray) -> np.ndarray:
        """[H, W, 2] flow f such that cell p of `from` shows what cell p + f shows in `to`."""
        flow = self.dis.calc(grey_from, grey_to, None)
        k = self.k
        height, width = flow.shape[0] // k, flow.shape[1] // k
        # A cell is k x k flow pixels: average them, and turn flow pixels into cells.
        cells = flow.reshape(height, k, width, k, 2).mean(axis=(1, 3))
        return (cells / k).astype(np.float32)


def warp(maps: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """maps sampled at p + flow(p) (bilinear; outside the maps: the nearest border cell)."""
    import cv2

    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
    channels = maps.shape[2]
    # cv2.remap takes at most 4 channels at a time.
    parts = [cv2.remap(np.ascontiguousarray(maps[..., c:c + 4]), map_x, map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE) for c in range(0, channels, 4)]
    parts = [p[..., None] if p.ndim == 2 else p for p in parts]
    return np.concatenate(parts, axis=2)


def consistency(forward: np.ndarray, backward: np.ndarray, scale_cells: float) -> np.ndarray:
    """[H, W] confidence exp(-(e / scale)^2) of the forward flow, e = |f(p) + b(p + f(p))|."""
    returned = warp(backward, forward)
    error = np.linalg.norm(forward + returned, axis=2)
    return np.exp(-np.square(error / scale_cells)).astype(np.float32)


class TemporalAggregator:
    """Maps of each frame of a sequence, aggregated over its neighbours.

    `run(items)` takes, in order, objects with attributes `image` (RGB or None), `maps` and
    `cell_to_image` (what `Estimator.predict_maps` gave; None for a None image) and yields
    the same objects in the same order with `maps` replaced by the aggregate. `elapsed_ms`
    sums the time spent aggregating.
    """

    def __init__(self, settings: TemporalSettings = TemporalSettings()):
        self.settings = settings
        self.flow = FlowField(settings.flow_scale)
        self.elapsed_ms = 0.0

    def run(self, items: Iterable[object]) -> Iterator[object]:
        window = self.settings.window
        ahead = window if self.settings.mode == "offline" else 0
        buffer: Deque[_Frame] = deque()
        waiting = 0     # frames in the buffer not yet emitted (the newest ones)
        for serial, item in enumerate(items):
            buffer.append(_Frame(item, item.image, item.maps, item.cell_to_image, serial))
            waiting += 1
            if waiting > ahead:     # the frame `ahead` places back has its future neighbours
                yield self._emit(buffer, len(buffer) - 1 - ahead)
                waiting -= 1
            while len(buffer) > window + ahead:     # older frames are no one's neighbour now
                buffer.popleft()
        for index in range(len(buffer) - waiting, len(buffer)):     # the sequence's end
            yield self._emit(buffer, index)

    def _emit(self, buffer: Deque[_Frame], index: int) -> object:
        frame = buffer[index]
        if frame.maps is not None:
            start = time.perf_counter()
            window = self.settings.window
            neighbours = [(abs(i - index), buffer[i]) for i in
                          range(max(0, index - window), min(len(buffer), index + window + 1)) if i != index]
            frame.item.maps = self._aggregate(frame, neighbours)
            self.elapsed_ms += 1e3 * (time.perf_counter() - start)
        return frame.item

    def _grey(self, frame: _Frame) -> np.ndarray:
        if frame.grey is None:
            frame.grey = flow_grid(frame.image, frame.cell_to_image, frame.maps.shape[:2],
                                   self.settings.flow_scale)
        return frame.grey

    def _flow(self, start: _Frame, end: _Frame) -> np.ndarray:
        """Flow from `start` to `end`, computed once per ordered pair: offline aggregation
        asks for each pair from both of its frames (forward for one, backward for the other)."""
        if end.serial not in start.flows:
            start.flows[end.serial] = self.flow(self._grey(start), self._grey(end))
        return start.flows[end.serial]

    def _aggregate(self, frame: _Frame, neighbours) -> np.ndarray:
        total = frame.maps.astype(np.float32).copy()
        weight = np.ones(frame.maps.shape[:2] + (1,), np.float32)
        for distance, other in neighbours:
            if other.maps is None or other.maps.shape != frame.maps.shape or \
                    other.image.shape != frame.image.shape:
                continue
            forward, backward = self._flow(frame, other), self._flow(other, frame)
            confidence = consistency(forward, backward, self.settings.consistency_cells)
            w = (self.settings.decay ** distance) * confidence[..., None]
            total += w * warp(other.maps.astype(np.float32), forward)
            weight += w
        return total / weight
