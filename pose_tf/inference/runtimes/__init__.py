"""Network backends: every model format the estimator can run, behind one interface.

A backend is a `Network`: it takes a float32 RGB batch [B, H, W, 3] in 0..255 and returns
the raw maps [B, H/stride, W/stride, C] laid out as its `layout` says (H and W multiples
of its `input_multiple`; pose_tf.core.geometry has what a cell means). Colour order and
normalisation are the backend's business, so the estimator never needs to know which
framework runs underneath. `load_network(path)` picks the backend from the path.
"""
from __future__ import annotations

import os
import threading
from typing import Callable, Optional, Tuple

import numpy as np

from ...core.errors import PoseTfError
from ...core.keypoints import Layout, get_layout


class Network:
    layout: Layout
    stride: int = 8           # input pixels per map cell (the model's own, never guessed from shapes)
    input_multiple: int = 16  # input height and width must be multiples of this
    pad_value: float = 0.0    # what the canvas around the image is filled with (as trained)
    fixed_input: Optional[Tuple[int, int]] = None   # (height, width) if the model needs it
    path: str = ""
    runs_in_tensorflow: bool = True   # TensorFlow graphs take the precision option (bfloat16)
    # May precision "auto" run it in bfloat16 where the CPU has it? (inference/precision.py)
    bfloat16_holds: bool = True

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def for_workers(self, workers: int) -> "Network":
        """This network as `workers` threads should call it at once (the pipelined video
        path). TensorFlow runs concurrent calls on its own thread pools, so a TensorFlow
        network is its own answer; runtimes with per-call thread pools or state override it."""
        return self


class _Wrapped(Network):
    """A network standing in for `base` (same layout and geometry)."""

    def __init__(self, base: Network):
        self.__dict__.update({k: getattr(base, k) for k in
                              ("layout", "stride", "input_multiple", "pad_value", "fixed_input",
                               "path", "runs_in_tensorflow", "bfloat16_holds")})


class PerThread(_Wrapped):
    """One copy of a network per calling thread, made by `make()` on its first call: for
    runtimes whose calls hold state (TFLite's interpreter has one input tensor)."""

    def __init__(self, base: Network, make: Callable[[], Network]):
        super().__init__(base)
        self._make, self._local = make, threading.local()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        copy = getattr(self._local, "network", None)
        if copy is None:
            copy = self._local.network = self._make()
        return copy(batch)


class Serialized(_Wrapped):
    """Calls of `base` one at a time, whatever thread makes them (a device runtime whose
    context takes one call at a time)."""

    def __init__(self, base: Network):
        super().__init__(base)
        self._base, self._lock = base, threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            return self._base(batch)


# (predicate on path, factory(path, layout_name_or_None) -> Network), tried in order.
_BACKENDS: list = []


def register_backend(matches: Callable[[str], bool], factory: Callable[[str, Optional[str]], Network]):
    """Add a backend; later registrations are tried first (so exporters can refine)."""
    _BACKENDS.insert(0, (matches, factory))


def resolve_layout(layout: Optional[str], default: str) -> Layout:
    return get_layout(layout or default)


def check_channels(path, channels: Optional[int], layout: Layout) -> None:
    """A network whose maps do not have the layout's channel count would fail, or worse
    be misread, at the first image: refuse it when it loads, naming file, count and layout.
    `channels` None (not known before running) is not checked here."""
    if channels is not None and int(channels) != layout.num_channels:
        raise PoseTfError(f"{path}: outputs {int(channels)} channels, layout {layout.name} "
                          f"expects {layout.num_channels} (pass the network's --layout?)")


def load_network(path: str, layout: Optional[str] = None) -> Network:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise PoseTfError(f"model not found: {path}")
    _load_builtin_backends()
    for matches, factory in _BACKENDS:
        if matches(path):
            return factory(path, layout)
    raise PoseTfError(f"{path}: unknown model format (expected .keras, a frozen graph .pb, "
                      f"a SavedModel folder, .tflite or .onnx)")


_LOADED = False


def _load_builtin_backends():
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from . import frozen_graph, keras_model  # noqa: F401  (they register themselves)
    try:  # formats added by the export module, when present
        from . import exported  # noqa: F401
    except ImportError:
        pass
