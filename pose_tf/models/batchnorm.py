"""Batch norm at inference: statistics recomputed ("precise BN", Wu & Johnson 2021), and
batch norms folded into the convolutions before them for export.

During training each BatchNormalization layer keeps an exponential moving average
(momentum 0.99) of its batch statistics, so at any step they mix statistics of weights
from the last few hundred steps. While the weights still move fast (early training, high
learning rate, small batches) that average no longer matches the network, and inference
(which uses it) scores far worse than the same weights in training mode: at step 1000 of
the default model's run, joint-heatmap error relative to an all-zero prediction was 2.34
in inference mode against 0.80 with batch statistics; after recomputing the averages over
40 training batches it was 0.72. Evaluations and the final model use recomputed ones.
"""
from __future__ import annotations

from typing import Iterable


def recalibrate_batch_norm(model, images: Iterable) -> int:
    """Replace every BN layer's moving mean/variance by the plain average of its batch
    statistics over `images` (an iterable of input batches). Returns the batch count.

    Only the moving statistics change: a forward pass in training mode updates them with
    `momentum`, and momentum 1 - 1/i at the i-th batch turns that update into a running
    average of the batches seen so far.
    """
    import keras

    layers = [layer for layer in _all_layers(model)
              if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in layers]
    count = 0
    try:
        for count, batch in enumerate(images, start=1):
            for layer in layers:
                layer.momentum = 1.0 - 1.0 / count
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, saved):
            layer.momentum = momentum
    return count


def is_sole_linear_convolution(op) -> bool:
    """A Conv2D or DepthwiseConv2D without its own activation whose output goes to one
    layer only: what may absorb a per-channel affine map after it (folding, equalisation)."""
    import keras

    return isinstance(op, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)) and \
        op.get_config()["activation"] == "linear" and len(op._outbound_nodes) == 1


def output_channel_shape(conv) -> tuple:
    """Shape that lays a per-output-channel vector onto `conv`'s kernel: output channel c
    of a depthwise layer is (input c // multiplier, c % multiplier)."""
    import keras

    kernel_shape = tuple(conv.kernel.shape)
    return kernel_shape[2:] if isinstance(conv, keras.layers.DepthwiseConv2D) else (-1,)


def fold_batch_norms(model):
    """A functional clone of `model` in which every BatchNormalization that is the only
    consumer of a linear convolution (Conv2D or DepthwiseConv2D) is folded into that
    convolution's kernel and bias, and becomes an identity. Same maps, up to float32
    rounding. Returns `model` itself when nothing folds.

    Why: converters fold a batch norm after a pointwise convolution but leave the one after
    a depthwise convolution as a Mul and an Add (tf2onnx, on the default model: 20 of
    them), which int8 then rounds before the batch norm rescales each channel. Folding
    alone did not move the default model's int8 AP (0.040 -> 0.037, ONNX); int8
    preparation (pose_tf.export.int8_weights) needs the folded kernels, whose rounding is
    what the converters really apply.
    """
    import keras
    import numpy as np

    from .layers import FoldedBatchNorm

    folds = {}   # convolution name -> its batch norm
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        conv = layer.input._keras_history.operation
        if is_sole_linear_convolution(conv):
            folds[conv.name] = layer
    if not folds:
        return model
    folded_names = {bn.name for bn in folds.values()}

    def clone(layer):
        if layer.name in folds:
            return layer.__class__.from_config({**layer.get_config(), "use_bias": True})
        if layer.name in folded_names:
            return FoldedBatchNorm(name=layer.name)
        return layer    # shared weights

    folded = keras.models.clone_model(model, clone_function=clone)
    for name, bn in folds.items():
        conv = model.get_layer(name)
        scale = np.asarray(bn.moving_variance) + bn.epsilon
        scale = (np.asarray(bn.gamma) if bn.scale else 1.0) / np.sqrt(scale)
        beta = np.asarray(bn.beta) if bn.center else 0.0
        bias = np.asarray(conv.bias) if conv.use_bias else 0.0
        kernel = np.asarray(conv.kernel) * scale.reshape(output_channel_shape(conv))
        folded.get_layer(name).set_weights(
            [kernel, (bias - np.asarray(bn.moving_mean)) * scale + beta])
    return folded


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):      # nested models (e.g. a Keras application)
            yield from _all_layers(layer)
