"""Neck (features at stride 8) and the stage heads predicting heatmaps + PAFs."""
from __future__ import annotations

import numpy as np
from keras import layers

from .layers import MatchSize


def separable_block(x, filters, kernel, name, dilation=1):
    """Depthwise kxk -> pointwise 1x1 -> BN -> ReLU: the "thin" conv of tf-pose's stages."""
    x = layers.DepthwiseConv2D(kernel, padding="same", use_bias=False, dilation_rate=dilation,
                               name=f"{name}_dw")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _upsample_to(x, reference, name, factor=2):
    x = layers.UpSampling2D(factor, interpolation="nearest", name=f"{name}_up")(x)
    return MatchSize(name=f"{name}_match")([x, reference])


def fpn_neck(features, channels):
    """Feature pyramid (Lin et al., CVPR 2017), top-down only, ending at stride 8.

    1x1 laterals bring every level >= 8 to `channels`; each coarser level is upsampled x2
    and added to the next finer one; a 3x3 separable conv smooths the stride-8 sum.
    """
    strides = sorted(s for s in features if s >= 8)
    top = None
    for stride in reversed(strides):
        lateral = layers.Conv2D(channels, 1, name=f"fpn_lateral{stride}")(features[stride])
        if top is None:
            top = lateral
        else:
            top = layers.Add(name=f"fpn_merge{stride}")(
                [lateral, _upsample_to(top, lateral, f"fpn_top{stride * 2}")])
    return separable_block(top, channels, 3, "fpn_smooth")


def concat_neck(features, channels):
    """tf-pose "thin" neck: max-pooled stride-4, stride-8 and upsampled stride-16 features
    concatenated, then a 1x1 conv to `channels`."""
    base = features[8]
    parts = [base]
    if 4 in features:
        parts.insert(0, layers.MaxPooling2D(2, padding="same", name="neck_pool4")(features[4]))
    for stride in sorted(s for s in features if s > 8):
        parts.append(_upsample_to(features[stride], base, f"neck_up{stride}", stride // 8))
    x = layers.Concatenate(name="neck_concat")(parts)
    x = layers.Conv2D(channels, 1, use_bias=False, name="neck_pw")(x)
    x = layers.BatchNormalization(name="neck_bn")(x)
    return layers.ReLU(name="neck_relu")(x)


NECKS = {"fpn": fpn_neck, "concat": concat_neck}


def stage_heads(features, *, stages, channels, convs, refine_kernel, out_channels):
    """First stage + refinement stages; each returns [B, h, w, out_channels] (float32).

    A refinement stage sees the neck features and the previous stage's prediction, and
    uses large depthwise kernels (cheap) to widen its receptive field, as in OpenPose.
    """
    outputs = []
    for stage in range(1, stages + 1):
        name = f"stage{stage}"
        if stage == 1:
            x, kernel = features, 3
        else:
            x = layers.Concatenate(name=f"{name}_concat")([features, outputs[-1]])
            kernel = refine_kernel
        for index in range(1, convs + 1):
            x = separable_block(x, channels, kernel, f"{name}_conv{index}")
        # float32 output even under a mixed-precision policy: the loss and the grouping
        # want full-precision maps.
        outputs.append(layers.Conv2D(out_channels, 1, dtype="float32", name=name)(x))
    return outputs


def start_outputs_at_empty_maps(model, layout):
    """Set every stage's output conv to predict "no person anywhere" before training.

    Kernels 0, biases 0 but the background channel's, 1 (its target away from people).
    From random output weights (std ~1 per channel against targets in [-1, 1] that are 0
    on >99% of PAF cells) the network first spends its early steps shrinking outputs, and
    in our runs came out with features that fit the heatmaps but never the PAFs: on a
    fixed batch, 300 steps left the PAF error at 1.17x that of an all-zero prediction;
    started from empty maps it fell to 0.30x (heatmaps 0.23x -> 0.01x).
    """
    for layer in model.layers:
        if layer.name.startswith("stage") and layer.name[5:].isdigit():
            kernel, bias = layer.get_weights()
            bias = np.zeros_like(bias)
            if layout.has_background:
                bias[layout.num_parts] = 1.0
            layer.set_weights([np.zeros_like(kernel), bias])
