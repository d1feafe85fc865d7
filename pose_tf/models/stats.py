"""Network statistics: parameter and FLOP counts.

FLOPs are counted by TensorFlow's profiler (`tf.compat.v1.profiler`, float_operation) on
the frozen inference graph at a fixed input shape, so every op it has a cost function
for is included (Conv2D and DepthwiseConv2dNative count 2 FLOPs per multiply-add, plus
bias adds, element-wise ops and resizes). Frozen .pb graphs (the peer) go through the
same counter, which keeps the comparison like for like.
"""
from __future__ import annotations

import numpy as np


def count_params(model) -> int:
    """All weights, including BN moving statistics (what the .keras file stores)."""
    return int(sum(np.prod(w.shape) for w in model.weights))


def graph_flops(graph) -> int:
    import tensorflow as tf

    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph, options=options)
    return int(profile.total_float_ops)


def model_flops(model, input_shape=(1, 368, 432, 3)) -> int:
    """FLOPs of one forward pass (inference mode) at `input_shape`."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    @tf.function(input_signature=[tf.TensorSpec(input_shape, tf.float32)])
    def forward(x):
        return model(x, training=False)

    frozen = convert_variables_to_constants_v2(forward.get_concrete_function())
    return graph_flops(frozen.graph)


def frozen_graph_flops(graph_def, input_name: str, input_shape=(1, 368, 432, 3)) -> int:
    """FLOPs of a frozen GraphDef with its (usually shapeless) input fixed to `input_shape`."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, input_shape, name="fixed_input")
        tf.compat.v1.import_graph_def(graph_def, input_map={input_name: image}, name="")
    return graph_flops(graph)
