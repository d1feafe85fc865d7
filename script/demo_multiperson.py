#!/usr/bin/env python
"""Thin wrapper: `python script/demo_multiperson.py INPUT [options]` = `pose-tf demo ...`."""
import sys

from pose_tf.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
