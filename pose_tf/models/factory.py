"""`build_model(model_setting)`: the one place a network is assembled from a setting."""
from __future__ import annotations

import keras

from ..core.errors import PoseTfError
from ..core.keypoints import get_layout
from .backbones import BACKBONES
from .heads import NECKS, stage_heads
from .layers import Normalize


def model_name(setting) -> str:
    if setting.name:
        return setting.name
    alpha = f"{setting.alpha:g}".replace(".", "")
    branch = "h" if setting.heatmap_branch else ""
    fine = f"_d{setting.stride8_layers}" if setting.stride8_layers else ""
    return f"{setting.backbone}_a{alpha}{fine}_{setting.neck}_s{setting.stages}{branch}"


def build_model(setting, input_shape=(None, None, 3)) -> keras.Model:
    """Build the functional model described by a `pose_tf.training.settings.ModelSetting`.

    Input "image": float32 [B, H, W, 3] RGB 0..255 (H, W multiples of 16 for exact
    stride-8 maps). Outputs: a list with one [B, H/8, W/8, C] tensor per stage, C =
    layout.num_channels (heatmaps, background, PAFs); the last one is the prediction.
    """
    if setting.backbone not in BACKBONES:
        raise PoseTfError(f"unknown backbone {setting.backbone!r}; known: {', '.join(BACKBONES)}")
    if setting.neck not in NECKS:
        raise PoseTfError(f"unknown neck {setting.neck!r}; known: {', '.join(NECKS)}")
    layout = get_layout(setting.layout)
    image = keras.Input(shape=input_shape, dtype="float32", name="image")
    x = Normalize(name="normalize")(image)
    options = {"stride8_layers": setting.stride8_layers} if setting.stride8_layers else {}
    features = BACKBONES[setting.backbone](x, setting.alpha, **options)
    neck = NECKS[setting.neck](features, setting.neck_channels)
    outputs = stage_heads(neck, stages=setting.stages, channels=setting.stage_channels,
                          convs=setting.stage_convs, refine_kernel=setting.refine_kernel,
                          out_channels=layout.num_channels,
                          heatmap_channels=layout.paf_offset if setting.heatmap_branch else 0)
    return keras.Model(image, outputs, name=model_name(setting))
