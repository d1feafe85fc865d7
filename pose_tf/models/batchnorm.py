"""Batch-norm statistics recomputed for inference ("precise BN", Wu & Johnson 2021).

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


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):      # nested models (e.g. a Keras application)
            yield from _all_layers(layer)
