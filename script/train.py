#!/usr/bin/env python
"""Train a network from a setting file: the same as `pose-tf train`.

    python script/train.py --setting setting/default.yaml [--resume]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pose_tf.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["train"] + sys.argv[1:]))
