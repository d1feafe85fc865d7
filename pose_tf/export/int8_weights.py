"""Our Keras networks made ready for int8: channel ranges equalised, kernels rounded here,
the rounding's bias error corrected. The float maps stay the same up to that rounding.

TFLite and onnxruntime store a kernel as symmetric per-output-channel int8 (scale =
max |w| / 127) and an activation tensor with one int8 scale for all its channels. On the
distilled default model both hurt far more than 8 bits should (maps at 28.8 dB SQNR from
the weights alone, int8 AP about half the float AP):

- Rounding. Its sharp early filters (`Conv2d_1_dw`, 28.2 dB when only it is rounded;
  every other layer >= 41 dB) make small outputs from large weights, so the rounding
  errors of a channel no longer sum to zero and leak its input level into the output.
  Bias correction (Nagel et al. 2019, "Data-Free Quantization Through Weight
  Equalization and Bias Correction", empirical form) subtracts that expected leak: the
  rounding error times the mean input per channel over the calibration images. Kernels
  are rounded here, on the converter's grid, so the converter's own rounding is exact.
  Weights alone: 28.8 -> 47.4 dB.
- One scale per activation tensor. Channels whose values stay far below the tensor's
  range get a few int8 steps, and the next layer's large weights on them magnify the
  steps. Cross-layer equalisation (same paper), adapted to ReLU6: a channel whose
  pre-activation peak m over the calibration images is below the clip is multiplied by
  s = clip / (margin * m) in its producing convolution (kernel and bias), and its
  consumers' weights on it are divided by s; ReLU is positively homogeneous, so the maps
  are unchanged as long as the scaled channel stays below the clip, and the channel now
  uses the tensor's int8 range. Under plain ReLU the target is the tensor's largest peak.
"""
from __future__ import annotations

from typing import List

import numpy as np

from .source import Source, with_keras_model

# pose_tf.models imports TensorFlow; the CLI imports this package for every verb, so the
# model helpers are imported where they are used.

LEVELS = 127          # symmetric int8 weights: -127..127 (TFLite, onnxruntime symmetric)
MARGIN = 1.1          # headroom above a channel's calibration peak before ReLU6 clips it
MAX_SCALE = 100.0     # a nearly dead channel is not blown up further than this


def round_to_int8_grid(kernel: np.ndarray, depthwise: bool) -> np.ndarray:
    """`kernel` rounded to symmetric per-output-channel int8 steps (kept as float).

    Conv2D kernels are [h, w, in, out]; a depthwise kernel [h, w, in, multiplier] has one
    output channel per (in, multiplier) pair. Rounding again on the same grid is exact:
    the largest entry of each channel stays at +-127 steps, so its scale is unchanged.
    """
    axes = (0, 1) if depthwise else (0, 1, 2)
    scale = np.abs(kernel).max(axis=axes, keepdims=True) / LEVELS
    scale = np.where(scale > 0, scale, 1.0)
    return (np.round(kernel / scale) * scale).astype(kernel.dtype)


def bias_shift(error: np.ndarray, mean_input: np.ndarray, depthwise: bool) -> np.ndarray:
    """Expected output change per output channel from kernel change `error` on an input
    whose per-channel mean is `mean_input` (borders' zero padding ignored)."""
    if depthwise:
        return (error.sum(axis=(0, 1)) * mean_input[:, None]).reshape(-1)
    return np.einsum("hwio,i->o", error, mean_input)


def equalising_scales(peaks: np.ndarray, clip: float) -> np.ndarray:
    """Per-channel factors that bring each channel's pre-activation peak up to the clip
    (ReLU6: 6 / margin) or, unbounded ReLU (clip = inf), to the largest channel's peak;
    never down, at most MAX_SCALE, 1 for channels that never fire."""
    target = clip / MARGIN if np.isfinite(clip) else peaks.max()
    scales = np.ones_like(peaks)
    live = peaks > 0
    scales[live] = np.clip(target / peaks[live], 1.0, MAX_SCALE)
    return scales


# -- the network's graph -------------------------------------------------------------------

def _convolutions():
    import keras

    return (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


def _clip_of(layer) -> float:
    """The activation's upper clip (6 for ReLU6, inf for ReLU), None for anything else."""
    import keras

    config = layer.get_config()
    if isinstance(layer, keras.layers.Activation):
        return {"relu": np.inf, "relu6": 6.0}.get(config["activation"])
    if isinstance(layer, keras.layers.ReLU) and not config["negative_slope"] and not config["threshold"]:
        return np.inf if config["max_value"] is None else float(config["max_value"])
    return None


def _producer(layer):
    from ..models.layers import FoldedBatchNorm

    op = layer.input._keras_history.operation
    while isinstance(op, FoldedBatchNorm) and len(op._outbound_nodes) == 1:
        op = op.input._keras_history.operation
    return op


def _consumers(layer):
    return [node.operation for node in layer._outbound_nodes]


def _equalisable(model):
    """(producer convolution, activation, clip, consumer convolutions) chains."""
    from ..models.batchnorm import is_sole_linear_convolution

    chains = []
    for activation in model.layers:
        clip = _clip_of(activation)
        if clip is None:
            continue
        producer = _producer(activation)
        consumers = _consumers(activation)
        if is_sole_linear_convolution(producer) and producer.use_bias and consumers and \
                all(isinstance(c, _convolutions()) for c in consumers):
            chains.append((producer, activation, clip, consumers))
    return chains


def _per_channel(model, tensors, calibration, statistic: str):
    """Per-channel "mean" or "peak" (maximum) of `tensors` over the calibration batches."""
    import keras

    probe = keras.Model(model.input, tensors)
    totals = None
    for batch in calibration:
        values = [np.asarray(t) for t in probe(batch, training=False)]
        if statistic == "mean":
            values = [v.mean(axis=(0, 1, 2)) / len(calibration) for v in values]
            totals = values if totals is None else [t + v for t, v in zip(totals, values)]
        else:
            values = [v.max(axis=(0, 1, 2)) for v in values]
            totals = values if totals is None else [np.maximum(t, v) for t, v in zip(totals, values)]
    return totals


def _scale_input_channels(layer, scales):
    """Divide `layer`'s weights on each input channel by its scale."""
    kernel, *rest = layer.get_weights()
    layer.set_weights([kernel / scales[None, None, :, None]] + rest)


def _scale_output_channels(layer, scales):
    from ..models.batchnorm import output_channel_shape

    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * scales.reshape(output_channel_shape(layer)), bias * scales])


def equalise_channel_ranges(model, calibration: List[np.ndarray]) -> int:
    """Cross-layer equalisation in place (module docstring). Returns the chains scaled."""
    chains = _equalisable(model)
    if not chains:
        return 0
    peaks = _per_channel(model, [activation.input for _, activation, _, _ in chains],
                         calibration, "peak")
    for (producer, _, clip, consumers), peak in zip(chains, peaks):
        scales = equalising_scales(peak, clip).astype(np.float32)
        _scale_output_channels(producer, scales)
        for consumer in consumers:
            _scale_input_channels(consumer, scales)
    return len(chains)


def correct_rounding(model, calibration: List[np.ndarray]) -> None:
    """Round every kernel to its int8 grid in place, correcting the biases (module
    docstring). Convolutions without a bias (none follows a batch norm) are rounded
    uncorrected."""
    import keras

    layers = [layer for layer in model.layers if isinstance(layer, _convolutions())]
    means = _per_channel(model, [layer.input for layer in layers], calibration, "mean")
    for layer, mean in zip(layers, means):
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        kernel, *bias = layer.get_weights()
        rounded = round_to_int8_grid(kernel, depthwise)
        if bias:
            bias = [bias[0] - bias_shift(rounded - kernel, mean, depthwise)]
        layer.set_weights([rounded] + bias)


def _standalone(model):
    """A copy of `model` with layers and weights of its own."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def int8_ready_model(model, calibration: List[np.ndarray]):
    """A copy of Keras `model` with batch norms folded, channel ranges equalised, every
    kernel on its int8 grid and every bias corrected for the rounding."""
    from ..models.batchnorm import fold_batch_norms

    if not calibration:
        raise ValueError("int8 preparation needs calibration images")
    # The copy has layers of its own (a folded clone shares the unfolded ones with `model`),
    # so the in-place steps below leave `model` as it was.
    ready = _standalone(fold_batch_norms(model))
    equalise_channel_ranges(ready, calibration)
    correct_rounding(ready, calibration)
    return ready


def int8_ready(source: Source, calibration: List[np.ndarray]) -> Source:
    """`source` with `int8_ready_model` applied when it is one of our Keras networks;
    other sources (frozen graphs, SavedModels) unchanged."""
    import keras

    if not isinstance(source.trackable, keras.Model):
        return source
    return with_keras_model(source, int8_ready_model(source.trackable, calibration))
