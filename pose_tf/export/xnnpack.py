"""Make our Keras networks fast under TFLite's XNNPACK delegate, without changing the maps.

XNNPACK has fast depthwise kernels up to 5x5, but its 7x7 depthwise convolution is
pathologically slow on x86: measured on this CPU for one [1, 46, 54, 186] layer,
0.20 ms (3x3), 0.58 ms (5x5), 11.1 ms (7x7) with XNNPACK, 3.0 ms (7x7) with TFLite's
builtin kernel. Our refinement stages use 7x7 depthwise kernels (OpenPose's receptive
field), so before TFLite conversion each large stride-1 'same' depthwise layer becomes an
exact sum of TILE x TILE depthwise convolutions over shifted windows of the padded input
(the kernel zero-padded to a multiple of TILE). Only the summation order changes.
"""
from __future__ import annotations

import math

TILE = 5          # fewest pieces among XNNPACK's fast sizes (3x3: 9 pieces, 5x5: 4)
LARGEST_FAST = 5  # kernels up to this size are left alone


def _is_large_depthwise(layer) -> bool:
    import keras

    if not isinstance(layer, keras.layers.DepthwiseConv2D):
        return False
    kh, kw = layer.kernel_size
    return (max(kh, kw) > LARGEST_FAST and tuple(layer.strides) == (1, 1)
            and tuple(layer.dilation_rate) == (1, 1) and layer.padding == "same"
            and layer.data_format == "channels_last" and kh % 2 == 1 and kw % 2 == 1)


def tiled_depthwise(x, kernel, tile: int = TILE):
    """depthwise_conv2d(x, kernel, 'SAME') as a sum of tile x tile VALID convolutions."""
    import tensorflow as tf

    kh, kw = int(kernel.shape[0]), int(kernel.shape[1])
    th, tw = math.ceil(kh / tile), math.ceil(kw / tile)
    kernel = tf.pad(kernel, [[0, th * tile - kh], [0, tw * tile - kw], [0, 0], [0, 0]])
    top, left = (kh - 1) // 2, (kw - 1) // 2
    padded = tf.pad(x, [[0, 0], [top, th * tile - 1 - top], [left, tw * tile - 1 - left], [0, 0]])
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    total = None
    for a in range(th):
        for b in range(tw):
            window = padded[:, a * tile: a * tile + height + tile - 1, b * tile: b * tile + width + tile - 1, :]
            piece = kernel[a * tile:(a + 1) * tile, b * tile:(b + 1) * tile]
            out = tf.nn.depthwise_conv2d(window, piece, [1, 1, 1, 1], "VALID")
            total = out if total is None else total + out
    return total


def xnnpack_friendly(model):
    """A functional clone of `model` sharing its weights, large depthwise layers tiled.
    Returns `model` itself when it has none."""
    import keras

    if not any(_is_large_depthwise(layer) for layer in model.layers):
        return model

    class TiledDepthwise(keras.layers.Layer):
        def __init__(self, original, **kwargs):
            super().__init__(name=f"{original.name}_tiled", **kwargs)
            self.original = original

        def call(self, x):
            y = tiled_depthwise(x, self.original.kernel)
            if self.original.use_bias:
                y = y + self.original.bias
            return self.original.activation(y)

    def clone(layer):
        return TiledDepthwise(layer) if _is_large_depthwise(layer) else layer   # shared weights

    return keras.models.clone_model(model, clone_function=clone)
