#!/usr/bin/env python
"""Track people through a video (or a folder of frames): a thin wrapper of `pose-tf track`.

    python script/demo_video.py VIDEO|FRAMES_DIR [--model M] [--layout L] [--out DIR]

Writes DIR/<name>.mp4 (one colour and id per person) and DIR/<name>.json (PoseTrack 2018).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose_tf.cli import main  # noqa: E402

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--out" not in argv and not any(a.startswith("--out=") for a in argv):
        argv += ["--out", "out/track"]
    sys.exit(main(["track"] + argv))
