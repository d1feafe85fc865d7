"""Per-frame stage timings and the FPS summary every verb that runs a network prints."""
from __future__ import annotations

import time
from typing import Dict, Optional

_NAMES = {"network": "network", "temporal": "temporal aggregation", "postprocess": "post-processing",
          "tracking": "tracking", "smoothing": "smoothing", "drawing": "drawing + encoding"}


class FrameTimings:
    """Milliseconds per stage (network, post-processing, and the video path's stages when a
    verb runs them) and one summary; stages never reported are left out."""

    def __init__(self, precision: Optional[str] = None):
        self.frames, self.people = 0, 0
        self.ms: Dict[str, float] = {"network": 0.0, "postprocess": 0.0}
        self.precision = precision
        self.mode = ""
        self.at_once: Dict[str, int] = {}    # stages that ran several frames at a time
        self.start = time.perf_counter()

    def add(self, estimator_ms: dict, people: int):
        """One image through `Estimator.__call__` (its `timings`)."""
        self.frames += 1
        self.people += people
        self.ms["network"] += estimator_ms.get("network", 0.0)
        self.ms["postprocess"] += estimator_ms.get("postprocess", 0.0)

    def add_video(self, stage_ms: Dict[str, float], frames: int, people: int, mode: str,
                  at_once: Optional[Dict[str, int]] = None):
        """A whole run of the video path: its `StageTimes.ms` totals; `at_once`: stages
        that ran that many frames concurrently (their FPS is that many times 1 / ms)."""
        self.frames, self.people, self.mode = frames, people, mode
        self.at_once = dict(at_once or {})
        order = list(_NAMES)
        self.ms = dict(sorted(stage_ms.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))

    def summary(self) -> str:
        n = max(self.frames, 1)
        wall = time.perf_counter() - self.start
        stages = ", ".join(self._stage(k, v, n) for k, v in self.ms.items())
        setup = ", ".join(s for s in (self.mode, f"network in {self.precision}" if self.precision else "") if s)
        return (f"{self.frames} frame(s), {self.people / n:.1f} people/frame, "
                f"{self.frames / wall:.1f} FPS overall (incl. reading/drawing/writing)"
                + (f" [{setup}]" if setup else "") + f"\nper frame: {stages}")

    def _stage(self, name: str, total_ms: float, frames: int) -> str:
        at_once = self.at_once.get(name, 1)
        fps = at_once * 1e3 * frames / total_ms if total_ms > 0 else float("inf")
        note = f", {at_once} frames at a time" if at_once > 1 else ""
        return f"{_NAMES.get(name, name)} {total_ms / frames:.2f} ms ({fps:.0f} FPS{note})"
