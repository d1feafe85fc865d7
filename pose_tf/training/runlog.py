"""The run's log: <logs_dir>/<experiment>/train.log (plain text) and tensorboard/ (scalars)."""
from __future__ import annotations

import datetime as _dt
import os
import sys
from typing import Dict, Optional

import tensorflow as tf


def _scalar_metadata() -> bytes:
    from tensorflow.core.framework import summary_pb2

    plugin = summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    return summary_pb2.SummaryMetadata(plugin_data=plugin).SerializeToString()


_SCALAR_METADATA = _scalar_metadata()


class RunLog:
    """Plain-text train.log (appended, flushed per line) plus TensorBoard scalars.

    Nothing is created until the first line or scalar: a run refused before it starts
    (a setting error, checkpoints without --resume) leaves no empty log or event file.
    """

    def __init__(self, log_dir: Optional[str]):
        self.log_dir = log_dir
        self._file = None
        self._writer = None

    def _open(self):
        if self.log_dir and self._file is None:
            os.makedirs(self.log_dir, exist_ok=True)
            self._file = open(os.path.join(self.log_dir, "train.log"), "a", encoding="utf-8")
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "tensorboard"))

    def line(self, text: str):
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        message = f"{stamp} {text}"
        print(message, file=sys.stderr, flush=True)
        self._open()
        if self._file:
            self._file.write(message + "\n")
            self._file.flush()

    def scalars(self, step: int, values: Dict[str, float]):
        self._open()
        if self._writer is None:
            return
        # tf.summary.write with the "scalars" plugin tag is what tensorboard's scalar()
        # writes; doing it directly spares the tensorboard package as a dependency.
        with self._writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.write(name, tf.constant(value, tf.float32), metadata=_SCALAR_METADATA)
        self._writer.flush()

    def close(self):
        if self._file:
            self._file.close()
        if self._writer:
            self._writer.close()
        self._file = self._writer = None
