"""Smooth keypoints along a track: the One Euro filter (Casiez, Roussel and Vogel, CHI 2012).

A low-pass filter whose cut-off rises with speed: a still joint is smoothed hard (its jitter
is noise), a fast one follows with little lag. Per keypoint coordinate:

    dx_hat = lowpass(derivative of x, alpha(d_cutoff))
    cutoff = min_cutoff + beta * |dx_hat|
    x_hat  = lowpass(x, alpha(cutoff)),     alpha(f) = 1 / (1 + 1 / (2 pi f dt))

Speeds are measured in *person heights per second* (the track's box height), so one
`beta` suits a person near the camera and one far away, and any video resolution.

With `follow_body` (default) the filter works in a frame that moves with the person: the
body's motion (the median displacement of the joints seen in two consecutive frames) has
its own One Euro filter, which opens up during a camera pan or a run, and each joint's
filter only smooths its motion relative to the body. A single filter per joint lags a
whole-body motion: on the Bonn clip (the camera pans) it cost the teacher's tracks 6.4 mAP.

A keypoint that was not detected (score 0) keeps its raw value and resets its filter, so a
joint that reappears starts afresh instead of being pulled from where it vanished. A track
unseen for `max_gap` frames is forgotten.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np

from ..core.pose import Pose


@dataclass(frozen=True)
class OneEuroSettings:
    min_cutoff: float = 1.0     # Hz: cut-off of a still joint
    beta: float = 5.0           # Hz per (person height / s) of speed (bench/temporal.py)
    d_cutoff: float = 1.0       # Hz: cut-off of the speed estimate
    max_gap: int = 10           # frames a track may be unseen and keep its filter
    follow_body: bool = True    # filter motion relative to the body's, not the body's own

    def __post_init__(self):
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0 or self.max_gap < 0:
            raise ValueError(f"One Euro settings must be positive (beta, max_gap >= 0): {self}")


def _alpha(cutoff, dt: float):
    """Smoothing factor of a first-order low-pass at `cutoff` Hz for a step of dt seconds."""
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def _one_euro_step(value_hat, speed_hat, value, dt: float, height: float, settings: "OneEuroSettings"):
    """One step of the One Euro filter: the new (value_hat, speed_hat) for a raw `value`."""
    speed = (value - value_hat) / dt
    speed_hat = speed_hat + _alpha(settings.d_cutoff, dt) * (speed - speed_hat)
    cutoff = settings.min_cutoff + settings.beta * np.abs(speed_hat) / height
    return value_hat + _alpha(cutoff, dt) * (value - value_hat), speed_hat


class _TrackFilter:
    """The filter state of one track: [17, 2] filtered positions and speeds, the last raw
    positions, which keypoints are live, and the body's filtered motion."""

    def __init__(self, xy: np.ndarray, live: np.ndarray, frame: int):
        self.xy, self.raw = xy.copy(), xy.copy()
        self.speed = np.zeros_like(xy)
        self.live = live.copy()
        self.frame = frame
        self.body_raw, self.body, self.body_speed = np.zeros(2), np.zeros(2), np.zeros(2)

    def _follow_body(self, xy, continuing, height, dt, settings) -> None:
        """Move the state with the body: the median raw displacement of the joints seen in
        both frames is the body's motion; it is smoothed by its own One Euro filter, fast
        enough to follow a camera pan, and added to every joint's state."""
        if continuing.sum() < 3:
            return
        self.body_raw = self.body_raw + np.median(xy[continuing] - self.raw[continuing], axis=0)
        body, self.body_speed = _one_euro_step(self.body, self.body_speed, self.body_raw, dt, height, settings)
        self.xy = self.xy + (body - self.body)
        self.body = body

    def update(self, xy, live, height, dt, settings: OneEuroSettings, frame: int) -> np.ndarray:
        continuing = live & self.live & (frame - self.frame == 1)
        if settings.follow_body:
            self._follow_body(xy, continuing, height, dt, settings)
        self.raw = xy.copy()
        smoothed, speed_hat = _one_euro_step(self.xy, self.speed, xy, dt, height, settings)
        keep = continuing[:, None]
        self.xy = np.where(keep, smoothed, xy)
        self.speed = np.where(keep, speed_hat, 0.0)
        self.live, self.frame = live.copy(), frame
        return self.xy


class KeypointSmoother:
    """Feed the tracked poses of each frame in order; get them back smoothed (new Pose
    objects with the same scores and track ids; untracked poses pass as they are)."""

    def __init__(self, fps: float, settings: OneEuroSettings = OneEuroSettings()):
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.dt = 1.0 / fps
        self.settings = settings
        self.filters: Dict[int, _TrackFilter] = {}
        self.frame = -1

    def __call__(self, poses: List[Pose]) -> List[Pose]:
        self.frame += 1
        out = [self._smooth(pose) for pose in poses]
        gap = self.settings.max_gap
        self.filters = {t: f for t, f in self.filters.items() if self.frame - f.frame <= gap}
        return out

    def _smooth(self, pose: Pose) -> Pose:
        if pose.track_id is None:
            return pose
        xy, live = pose.xy.astype(np.float64), pose.detected
        state = self.filters.get(pose.track_id)
        if state is None:
            self.filters[pose.track_id] = _TrackFilter(xy, live, self.frame)
            return pose
        height = max(float(pose.bbox()[3]), 1.0)
        smoothed = state.update(xy, live, height, self.dt, self.settings, self.frame)
        keypoints = pose.keypoints.copy()
        keypoints[:, :2] = np.where(live[:, None], smoothed, pose.xy)
        return Pose(keypoints, pose.score, pose.track_id)


def mean_acceleration(tracks: List[List[Pose]]) -> float:
    """Jitter: the mean norm of the second difference of each tracked, detected keypoint
    over three consecutive frames, in pixels / frame^2 (per frame: its list of poses)."""
    norms = []
    for before, now, after in zip(tracks, tracks[1:], tracks[2:]):
        prev = {p.track_id: p for p in before if p.track_id is not None}
        nxt = {p.track_id: p for p in after if p.track_id is not None}
        for pose in now:
            a, b = prev.get(pose.track_id), nxt.get(pose.track_id)
            if pose.track_id is None or a is None or b is None:
                continue
            seen = a.detected & pose.detected & b.detected
            second = a.xy[seen] - 2.0 * pose.xy[seen] + b.xy[seen]
            norms.extend(np.linalg.norm(second, axis=1).tolist())
    return float(np.mean(norms)) if norms else float("nan")
