"""Backbones: normalised image tensor -> feature maps at increasing strides.

Every backbone function takes the (already normalised, [-1, 1]) input tensor and a width
multiplier `alpha` and returns a dict {stride: tensor} with strides 4/8/16/32 as it has
them. Keras applications are reused where they fit (MobileNet v1/v2/v3, `weights=None`,
built on our own input tensor so their layers become part of one flat functional graph);
the MobileNet-thin trunk and ShuffleNet v2 are our own.
"""
from __future__ import annotations

import keras
from keras import layers

from .layers import ChannelShuffle, ChannelSplit


def _depth(channels, alpha, minimum=8):
    return max(int(channels * alpha), minimum)


def _conv_bn(x, filters, kernel, stride, name, activation="relu6"):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation(activation, name=f"{name}_act")(x) if activation else x


def _dw_bn(x, kernel, stride, name, activation="relu6", dilation=1):
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                               dilation_rate=dilation, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    return layers.Activation(activation, name=f"{name}_dw_act")(x) if activation else x


# ---------------------------------------------------------------------------------------
# MobileNet-thin: the truncated MobileNet v1 trunk of tf-pose-estimation's mobilenet_thin
# (layers Conv2d_0 .. Conv2d_11, no Conv2d_12/13), with depth multiplier `alpha`.
# tf-pose keeps Conv2d_6 at stride 1 (all of Conv2d_6..11 at stride 8, ~4x the cost);
# we keep MobileNet's stride 2 there and let the neck bring stride 16 back to 8.

_THIN_LAYERS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                (512, 1), (512, 1), (512, 1), (512, 1), (512, 1))   # Conv2d_1 .. Conv2d_11
_THIN_FIRST_STRIDE16 = 6                                            # Conv2d_6


def mobilenet_thin(x, alpha, stride8_layers=0):
    """The trunk's features {4, 8, 16}.

    `stride8_layers` = n > 0 also runs Conv2d_6 .. Conv2d_(5+n) at stride 8, as tf-pose
    does (Conv2d_6 at stride 1, the next ones dilated x2), and then keeps every second
    pixel, the ones MobileNet's stride-2 Conv2d_6 computes (odd rows and columns, for
    inputs that are multiples of 16). The stride-16 layers after it therefore compute
    exactly what they compute without the option, and the neck gets the deep stride-8
    output too, as a second feature at stride 8: sharper maps than stride-16 features
    upsampled, for the cost of n layers at 4x the pixels.
    """
    x = _conv_bn(x, _depth(32, alpha), 3, 2, "Conv2d_0")
    features, stride, deep8 = {}, 2, None
    last_fine = _THIN_FIRST_STRIDE16 + stride8_layers - 1
    for index, (channels, step) in enumerate(_THIN_LAYERS, start=1):
        fine = _THIN_FIRST_STRIDE16 <= index <= last_fine
        x = _dw_bn(x, 3, 1 if fine else step, f"Conv2d_{index}",
                   dilation=2 if fine and index > _THIN_FIRST_STRIDE16 else 1)
        x = _conv_bn(x, _depth(channels, alpha), 1, 1, f"Conv2d_{index}_pw")
        if stride8_layers and index == last_fine:
            deep8 = x
            x = layers.Cropping2D(((1, 0), (1, 0)), name=f"Conv2d_{index}_odd")(x)
            x = layers.MaxPooling2D(1, strides=2, name=f"Conv2d_{index}_subsample")(x)
        stride *= step
        features[stride] = x          # the last layer at each stride
    eight = features[8] if deep8 is None else (features[8], deep8)
    return {4: features[4], 8: eight, 16: features[16]}


# ---------------------------------------------------------------------------------------
# Keras applications. Endpoints are the last block output at each stride, by layer name
# (explicit names in keras.applications, so they do not depend on global name counters).

def _application_features(model, names):
    return {stride: model.get_layer(name).output for stride, name in names.items()}


def mobilenet_v1(x, alpha):
    model = keras.applications.MobileNet(input_tensor=x, alpha=alpha, include_top=False,
                                         weights=None)
    return _application_features(model, {4: "conv_pw_3_relu", 8: "conv_pw_5_relu",
                                         16: "conv_pw_11_relu", 32: "conv_pw_13_relu"})


def mobilenet_v2(x, alpha):
    model = keras.applications.MobileNetV2(input_tensor=x, alpha=alpha, include_top=False,
                                           weights=None)
    # out_relu (the 1280-wide 1x1 head conv) is skipped: block_16_project is the last block.
    return _application_features(model, {4: "block_2_add", 8: "block_5_add",
                                         16: "block_12_add", 32: "block_16_project_BN"})


def mobilenet_v3_small(x, alpha):
    model = keras.applications.MobileNetV3Small(input_tensor=x, alpha=alpha, include_top=False,
                                                weights=None, include_preprocessing=False)
    return _application_features(model, {8: "expanded_conv_2_add", 16: "expanded_conv_7_add",
                                         32: "expanded_conv_10_add"})


def mobilenet_v3_large(x, alpha):
    model = keras.applications.MobileNetV3Large(input_tensor=x, alpha=alpha, include_top=False,
                                                weights=None, include_preprocessing=False)
    return _application_features(model, {4: "expanded_conv_2_add", 8: "expanded_conv_5_add",
                                         16: "expanded_conv_11_add", 32: "expanded_conv_14_add"})


# ---------------------------------------------------------------------------------------
# ShuffleNet v2 (Ma et al., ECCV 2018), our own implementation: stem conv + max pool, then
# stages 2-4 of [4, 8, 4] units; the final 1x1 conv5 (a classifier feature) is left out.

_SHUFFLE_WIDTHS = {0.5: (48, 96, 192), 1.0: (116, 232, 464), 1.5: (176, 352, 704),
                   2.0: (244, 488, 976)}


def _shuffle_widths(alpha):
    if alpha in _SHUFFLE_WIDTHS:
        return _SHUFFLE_WIDTHS[alpha]
    # Between the paper's widths: scale the 1.0x widths, keeping them even (channel split).
    return tuple(max(2 * round(w * alpha / 2), 8) for w in _SHUFFLE_WIDTHS[1.0])


def _shuffle_unit(x, out_channels, stride, name):
    half = out_channels // 2
    if stride == 1:
        keep, branch = ChannelSplit(name=f"{name}_split")(x)
    else:
        keep = _dw_bn(x, 3, 2, f"{name}_short", activation=None)
        keep = _conv_bn(keep, half, 1, 1, f"{name}_short_pw", activation="relu")
        branch = x
    branch = _conv_bn(branch, half, 1, 1, f"{name}_pw1", activation="relu")
    branch = _dw_bn(branch, 3, stride, f"{name}", activation=None)
    branch = _conv_bn(branch, half, 1, 1, f"{name}_pw2", activation="relu")
    x = layers.Concatenate(name=f"{name}_concat")([keep, branch])
    return ChannelShuffle(2, name=f"{name}_shuffle")(x)


def shufflenet_v2(x, alpha):
    x = _conv_bn(x, 24, 3, 2, "shuffle_stem", activation="relu")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="shuffle_pool")(x)
    features = {4: x}
    for stage, (channels, repeats) in enumerate(zip(_shuffle_widths(alpha), (4, 8, 4)), start=2):
        for unit in range(repeats):
            x = _shuffle_unit(x, channels, 2 if unit == 0 else 1, f"stage{stage}_unit{unit + 1}")
        features[4 * 2 ** (stage - 1)] = x
    return features


BACKBONES = {
    "mobilenet_thin": mobilenet_thin,
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_small": mobilenet_v3_small,
    "mobilenet_v3_large": mobilenet_v3_large,
    "shufflenet_v2": shufflenet_v2,
}
