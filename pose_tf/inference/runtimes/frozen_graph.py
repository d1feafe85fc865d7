"""Frozen TensorFlow graphs (.pb), such as tf-pose-estimation's OpenPose-style networks.

Defaults follow tf-pose-estimation: input `image:0` float32 BGR 0..255, output
`Openpose/concat_stage7:0` at 1/8 resolution, layout `openpose18`.
"""
from __future__ import annotations

import numpy as np

from ...core.errors import PoseTfError
from . import Network, check_channels, register_backend, resolve_layout

DEFAULT_INPUT = "image:0"
DEFAULT_OUTPUT = "Openpose/concat_stage7:0"


def read_graph_def(path):
    """The GraphDef of a frozen .pb file; PoseTfError naming the file if it is not one."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    try:
        with open(path, "rb") as f:
            graph_def.ParseFromString(f.read())
    except Exception as exc:  # protobuf raises DecodeError, a plain Exception subclass
        raise PoseTfError(f"{path}: not a frozen TensorFlow graph ({type(exc).__name__})") from None
    return graph_def


class FrozenGraphNetwork(Network):
    def __init__(self, path, layout=None, input_name=DEFAULT_INPUT, output_name=DEFAULT_OUTPUT,
                 bgr=True):
        import tensorflow as tf

        self.path, self.layout, self.bgr = path, resolve_layout(layout, "openpose18"), bgr
        self.graph_def = graph_def = read_graph_def(path)

        def _import():
            tf.compat.v1.import_graph_def(graph_def, name="")

        wrapped = tf.compat.v1.wrap_function(_import, [])
        try:
            inp = wrapped.graph.get_tensor_by_name(input_name)
            out = wrapped.graph.get_tensor_by_name(output_name)
        except KeyError as exc:
            raise PoseTfError(f"{path}: graph has no tensor {exc}") from None
        self.forward = wrapped.prune(inp, out)   # tensor in (as the graph wants it) -> maps
        self._tf = tf
        # A graph's channel count is known only by running it: probe a small blank image.
        check_channels(path, self(np.zeros((1, 64, 64, 3), np.float32)).shape[-1], self.layout)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = batch[..., ::-1] if self.bgr else batch
        return self.forward(self._tf.constant(np.ascontiguousarray(x, np.float32))).numpy()


register_backend(lambda p: p.endswith(".pb") and not p.endswith("saved_model.pb"),
                 lambda p, layout: FrozenGraphNetwork(p, layout))
