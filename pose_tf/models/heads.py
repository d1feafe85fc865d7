"""Neck (features at stride 8) and the stage heads predicting heatmaps + PAFs."""
from __future__ import annotations

import re

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
    A level given as several features (the shallow one first) gets a lateral for each,
    summed; the extra ones start at zero, so a network grown by them starts as the one it
    grew from (`mobilenet_thin`'s `stride8_layers`).
    """
    strides = sorted(s for s in features if s >= 8)
    top = None
    for stride in reversed(strides):
        lateral = _lateral(features[stride], channels, f"fpn_lateral{stride}")
        if top is None:
            top = lateral
        else:
            top = layers.Add(name=f"fpn_merge{stride}")(
                [lateral, _upsample_to(top, lateral, f"fpn_top{stride * 2}")])
    return separable_block(top, channels, 3, "fpn_smooth")


def _lateral(level, channels, name):
    """The 1x1 lateral of one pyramid level: one feature, or the sum over several."""
    first, *extra = _level_list(level)
    lateral = layers.Conv2D(channels, 1, name=name)(first)
    if not extra:
        return lateral
    extra = [layers.Conv2D(channels, 1, kernel_initializer="zeros", name=f"{name}_deep{i}")(f)
             for i, f in enumerate(extra, start=1)]
    return layers.Add(name=f"{name}_sum")([lateral, *extra])


def _level_list(level):
    """The features of one level, as a list (a backbone may give several at a stride)."""
    return list(level) if isinstance(level, (list, tuple)) else [level]


def concat_neck(features, channels):
    """tf-pose "thin" neck: max-pooled stride-4, stride-8 and upsampled stride-16 features
    concatenated, then a 1x1 conv to `channels`."""
    parts = _level_list(features[8])
    base = parts[0]
    if 4 in features:
        parts.insert(0, layers.MaxPooling2D(2, padding="same", name="neck_pool4")(features[4]))
    for stride in sorted(s for s in features if s > 8):
        parts.append(_upsample_to(features[stride], base, f"neck_up{stride}", stride // 8))
    x = layers.Concatenate(name="neck_concat")(parts)
    x = layers.Conv2D(channels, 1, use_bias=False, name="neck_pw")(x)
    x = layers.BatchNormalization(name="neck_bn")(x)
    return layers.ReLU(name="neck_relu")(x)


NECKS = {"fpn": fpn_neck, "concat": concat_neck}


HEATMAP_BRANCH = "h"   # stageN + this: the name prefix of the heatmap branch's convs
# The output convs of a two-branch stage: stageN_heatmaps and stageN_pafs.
BRANCH_OUTPUT = re.compile(r"(stage\d+)_(heatmaps|pafs)")


def _stage_convs(x, channels, convs, kernel, name):
    for index in range(1, convs + 1):
        x = separable_block(x, channels, kernel, f"{name}_conv{index}")
    return x


def stage_heads(features, *, stages, channels, convs, refine_kernel, out_channels,
                heatmap_channels=0):
    """First stage + refinement stages; each returns [B, h, w, out_channels] (float32).

    A refinement stage sees the neck features and the previous stage's prediction, and
    uses large depthwise kernels (cheap) to widen its receptive field, as in OpenPose.

    `heatmap_channels` > 0 gives every refinement stage (or a lone first stage) two
    branches, as OpenPose's stages have: its convs predict the PAFs (output conv
    `stageN_pafs`), a second set of the same convs (`stageNh_conv*`) the first
    `heatmap_channels` channels, heatmaps and background (`stageN_heatmaps`); the layer
    `stageN` joins them in layout order. Why: decoding a distilled student's PAFs with the
    teacher's heatmaps scores near the teacher (bench/distill_gap.py), so its heatmaps are
    what lack capacity.
    """
    outputs = []
    for stage in range(1, stages + 1):
        name = f"stage{stage}"
        if stage == 1:
            x, kernel = features, 3
        else:
            x = layers.Concatenate(name=f"{name}_concat")([features, outputs[-1]])
            kernel = refine_kernel
        shared = _stage_convs(x, channels, convs, kernel, name)
        # float32 output even under a mixed-precision policy: the loss and the grouping
        # want full-precision maps.
        # one shared set of convs: no heatmap branch, or the first stage of several
        if not heatmap_channels or (stage == 1 and stages > 1):
            outputs.append(layers.Conv2D(out_channels, 1, dtype="float32", name=name)(shared))
            continue
        heatmaps = layers.Conv2D(heatmap_channels, 1, dtype="float32", name=f"{name}_heatmaps")(
            _stage_convs(x, channels, convs, kernel, f"{name}{HEATMAP_BRANCH}"))
        pafs = layers.Conv2D(out_channels - heatmap_channels, 1, dtype="float32",
                             name=f"{name}_pafs")(shared)
        outputs.append(layers.Concatenate(dtype="float32", name=name)([heatmaps, pafs]))
    return outputs


def _output_convs(model, layout):
    """(output conv, first layout channel it predicts) of every stage."""
    convs = []
    for layer in model.layers:
        name = layer.name
        branch = BRANCH_OUTPUT.fullmatch(name)
        # stageN is the output conv, or with a heatmap branch the join of two (no weights)
        if name.startswith("stage") and name[5:].isdigit() and layer.weights:
            convs.append((layer, 0))
        elif branch:
            convs.append((layer, 0 if branch[2] == "heatmaps" else layout.paf_offset))
    return convs


def start_outputs_at_empty_maps(model, layout):
    """Set every stage's output conv to predict "no person anywhere" before training.

    Kernels 0, biases 0 but the background channel's, 1 (its target away from people).
    From random output weights (std ~1 per channel against targets in [-1, 1] that are 0
    on >99% of PAF cells) the network first spends its early steps shrinking outputs, and
    in our runs came out with features that fit the heatmaps but never the PAFs: on a
    fixed batch, 300 steps left the PAF error at 1.17x that of an all-zero prediction;
    started from empty maps it fell to 0.30x (heatmaps 0.23x -> 0.01x).
    """
    for layer, first in _output_convs(model, layout):
        kernel, bias = layer.get_weights()
        bias = np.zeros_like(bias)
        if layout.has_background and first <= layout.num_parts < first + bias.shape[0]:
            bias[layout.num_parts - first] = 1.0
        layer.set_weights([np.zeros_like(kernel), bias])


STAGE_LAYER = re.compile(rf"stage(\d+)({HEATMAP_BRANCH}?)(_\w+)")   # stage, branch, rest


def _donor(name, theirs, model):
    """(layer of `source`, channel slice) whose weights `model`'s layer `name` starts from."""
    if name in theirs:
        return theirs[name], slice(None)
    output = BRANCH_OUTPUT.fullmatch(name)
    shared = theirs.get(output[1]) if output else None
    if shared is not None and shared.weights:
        # a branch's output conv keeps its channels of the shared stage's output conv
        heatmaps = model.get_layer(f"{output[1]}_heatmaps").filters
        return shared, slice(None, heatmaps) if output[2] == "heatmaps" else slice(heatmaps, None)
    layer = STAGE_LAYER.fullmatch(name)
    if not layer:
        return None
    stage, branch, rest = int(layer[1]), layer[2], layer[3]
    if any(n.startswith(f"stage{stage}_") for n in theirs):
        # a heatmap branch's conv copies the shared stage's conv
        return _donor(f"stage{stage}{rest}", theirs, model) if branch else None
    if stage > 2:
        # a refinement stage `source` lacks copies the one before it: same input shape
        # (neck features + the previous stage's maps), and it starts out refining again
        return _donor(f"stage{stage - 1}{branch}{rest}", theirs, model)
    return None


def seed_new_stage_layers(model, source) -> list:
    """Weights for the stage layers `source` lacks, so that `model` starts out near
    `source`'s maps: a heatmap branch copies its shared stage's convs (and each branch's
    output conv keeps its channels of the shared output conv), which then computes exactly
    `source`'s maps; an added refinement stage copies the last stage of `source`, which then
    refines once more. Returns the names of the layers it set."""
    theirs = {layer.name: layer for layer in source.layers}
    seeded = []
    for layer in model.layers:
        if layer.name in theirs or not layer.weights:
            continue
        found = _donor(layer.name, theirs, model)
        if found is None:
            continue
        weights = [w[..., found[1]] for w in found[0].get_weights()]
        if [w.shape for w in weights] != [w.shape for w in layer.get_weights()]:
            continue
        layer.set_weights(weights)
        seeded.append(layer.name)
    return seeded
