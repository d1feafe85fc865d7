"""Small custom layers of our networks, registered so `.keras` files load back.

Each layer is a plain `keras.layers.Layer` with a `get_config` that round-trips; importing
`pose_tf.models` registers them (package "pose_tf"), which is all `keras.models.load_model`
needs. A `.keras` file names them by registered name ("pose_tf>Normalize", ...); the module
path it also stores is only read for Keras's own packages, so files saved while these
layers lived in `pose_tf.nets` load the same. The registered names must never change.
"""
from __future__ import annotations

import numpy as np
import keras
from keras import ops

PACKAGE = "pose_tf"


@keras.saving.register_keras_serializable(package=PACKAGE)
class Normalize(keras.layers.Layer):
    """RGB 0..255 -> [-1, 1]: the model takes raw pixels, so no caller can forget this."""

    def call(self, images):
        return ops.cast(images, self.compute_dtype) / 127.5 - 1.0

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=PACKAGE)
class FoldedBatchNorm(keras.layers.Layer):
    """What a batch norm folded into the convolution before it leaves: nothing. It stands
    in its place (same name, same call arguments) in models made by
    pose_tf.models.batchnorm.fold_batch_norms."""

    def call(self, inputs, mask=None, training=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=PACKAGE)
class MatchSize(keras.layers.Layer):
    """Bring `x` to the spatial size of `reference`: crop extra rows/columns at the bottom
    and right, or repeat the last ones (symmetric padding) where `x` is short.

    Upsampling a stride-2s map by 2 does not always give the stride-s map's size: with
    "same" padding 2*ceil(n/2) can be one more (368 / 16 = 23 -> 12 -> 24), with Keras
    MobileNet's "valid" stride-2 convs 2*floor(n/2) one less (23 -> 11 -> 22). Matching the
    size keeps FPN merges valid for any input size, None dimensions included.
    """

    def call(self, inputs):
        import tensorflow as tf   # dynamic-size pad; this project runs the TF backend

        x, reference = inputs
        target = tf.shape(reference)[1:3]
        short = tf.maximum(target - tf.shape(x)[1:3], 0)
        x = tf.pad(x, [[0, 0], [0, short[0]], [0, short[1]], [0, 0]], mode="SYMMETRIC")
        return x[:, : target[0], : target[1], :]

    def compute_output_shape(self, input_shapes):
        x_shape, ref_shape = input_shapes
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])


@keras.saving.register_keras_serializable(package=PACKAGE)
class ChannelSplit(keras.layers.Layer):
    """Split channels into two halves (ShuffleNet v2 unit)."""

    def call(self, x):
        half = x.shape[-1] // 2
        return [x[..., :half], x[..., half:]]

    def compute_output_shape(self, input_shape):
        half = input_shape[-1] // 2
        return [tuple(input_shape[:-1]) + (half,), tuple(input_shape[:-1]) + (input_shape[-1] - half,)]


@keras.saving.register_keras_serializable(package=PACKAGE)
class ChannelShuffle(keras.layers.Layer):
    """Interleave channel groups (ShuffleNet). A fixed channel permutation (a gather)
    instead of reshape/transpose, so it needs no static height or width."""

    def __init__(self, groups=2, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if channels % self.groups:
            raise ValueError(f"{self.name}: {channels} channels not divisible by {self.groups} groups")
        # Channel c of group g goes to position c * groups + g.
        self._permutation = np.arange(channels).reshape(self.groups, -1).T.reshape(-1).astype("int32")

    def call(self, x):
        return ops.take(x, self._permutation, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}
