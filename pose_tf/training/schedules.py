"""The learning rate and the optimizer that follows it, built from `training` settings.

lr(step): a linear warm-up, base * (step + 1) / warmup_steps over the first
`warmup_steps` steps (step 0 already trains), then the setting's schedule:

- cosine: Keras's `CosineDecay` (its own warm-up), from base to base * final_fraction over
  the steps after the warm-up, then flat;
- exponential: Keras's `ExponentialDecay`, base * factor ** (steps after warm-up / decay_steps);
- step: Keras's `PiecewiseConstantDecay`, base times factor at each of `boundaries`;
- constant: base.

Every schedule is a pure function of the step, so restoring the optimizer's `iterations`
restores the learning rate exactly.
"""
from __future__ import annotations

import keras
from keras import ops

from .settings import LearningRate

_schedules = keras.optimizers.schedules


@keras.saving.register_keras_serializable(package="pose_tf")
class WarmupCosineDecay(_schedules.CosineDecay):
    """Keras's CosineDecay with its warm-up counting the step being taken (step + 1):
    lr(0) = warmup_target / warmup_steps rather than 0, and the cosine starts at
    `warmup_steps` as in CosineDecay."""

    def __call__(self, step):
        step = ops.cast(step, "float32")
        return super().__call__(ops.where(step < self.warmup_steps, step + 1.0, step))


@keras.saving.register_keras_serializable(package="pose_tf")
class LinearWarmup(_schedules.LearningRateSchedule):
    """`after` (a schedule, or a constant rate) times min((step + 1) / warmup_steps, 1).

    With `delay`, `after` is evaluated at the steps since the warm-up ended.
    """

    def __init__(self, after, warmup_steps: int = 0, delay: bool = False):
        self.after = after
        self.warmup_steps = int(warmup_steps)
        self.delay = bool(delay)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        value = self.after
        if callable(value):
            value = value(ops.maximum(step - self.warmup_steps, 0.0) if self.delay else step)
        value = ops.convert_to_tensor(value, "float32")
        if self.warmup_steps > 0:
            value = value * ops.minimum((step + 1.0) / self.warmup_steps, 1.0)
        return value

    def get_config(self):
        after = self.after
        if isinstance(after, _schedules.LearningRateSchedule):
            after = _schedules.serialize(after)
        return {"after": after, "warmup_steps": self.warmup_steps, "delay": self.delay}

    @classmethod
    def from_config(cls, config):
        after = config["after"]
        if isinstance(after, dict):
            after = _schedules.deserialize(after)
        return cls(after, config["warmup_steps"], config["delay"])


def learning_rate_schedule(lr: LearningRate, total_steps: int) -> _schedules.LearningRateSchedule:
    """lr(step) of the setting's `training.lr` over a run of `total_steps` steps."""
    warmup = int(lr.warmup_steps)
    if lr.schedule == "cosine":
        return WarmupCosineDecay(0.0, max(total_steps - warmup, 1), alpha=lr.final_fraction,
                                 warmup_target=lr.base, warmup_steps=warmup)
    if lr.schedule == "exponential":
        return LinearWarmup(_schedules.ExponentialDecay(lr.base, lr.decay_steps, lr.factor),
                            warmup, delay=True)
    if lr.schedule == "step":
        # Keras drops the rate after a boundary step, the setting at it: one step earlier.
        values = [lr.base * lr.factor ** i for i in range(len(lr.boundaries) + 1)]
        return LinearWarmup(_schedules.PiecewiseConstantDecay(
            [int(b) - 1 for b in lr.boundaries], values), warmup)
    if lr.schedule == "constant":
        return LinearWarmup(float(lr.base), warmup)
    raise ValueError(f"unknown learning-rate schedule {lr.schedule!r}")


def make_optimizer(training, schedule):
    """The `training.optimizer` on `schedule` (loss-scaled under mixed_float16)."""
    common = {"learning_rate": schedule}
    if training.clipnorm:
        common["clipnorm"] = training.clipnorm
    if training.optimizer == "adam":
        optimizer = keras.optimizers.Adam(**common)
    elif training.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(weight_decay=training.weight_decay, **common)
    elif training.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(momentum=training.momentum, nesterov=True, **common)
    else:
        optimizer = keras.optimizers.RMSprop(momentum=training.momentum, **common)
    if training.mixed_precision == "mixed_float16":
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
