"""Per-frame stage timings and the FPS summary every verb that runs a network prints."""
from __future__ import annotations

import time


class FrameTimings:
    """Accumulates milliseconds per stage (network, post-processing, and tracking when a
    verb reports it) and prints one summary; stages never reported are left out."""

    def __init__(self):
        self.frames, self.people = 0, 0
        self.ms = {"network": 0.0, "postprocess": 0.0}
        self.start = time.perf_counter()

    def add(self, estimator_ms: dict, people: int, tracking_ms: float = None):
        self.frames += 1
        self.people += people
        self.ms["network"] += estimator_ms.get("network", 0.0)
        self.ms["postprocess"] += estimator_ms.get("postprocess", 0.0)
        if tracking_ms is not None:
            self.ms["tracking"] = self.ms.get("tracking", 0.0) + tracking_ms

    def summary(self) -> str:
        n = max(self.frames, 1)
        wall = time.perf_counter() - self.start
        names = {"network": "network", "postprocess": "post-processing", "tracking": "tracking"}
        stages = ", ".join(
            f"{names[k]} {v / n:.2f} ms ({1e3 * n / v if v > 0 else float('inf'):.0f} FPS)"
            for k, v in self.ms.items())
        return (f"{self.frames} frame(s), {self.people / n:.1f} people/frame, "
                f"{self.frames / wall:.1f} FPS overall (incl. reading/drawing/writing)\n"
                f"per frame: {stages}")
