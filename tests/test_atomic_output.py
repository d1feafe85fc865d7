"""pose_tf.io.files.atomic_output: the one temp-file-and-rename primitive of the package."""
import json
import os

import numpy as np
import pytest

from pose_tf.core.errors import PoseTfError
from pose_tf.io.files import atomic_output, write_json_atomic


def _listing(folder):
    return sorted(os.listdir(folder))


def test_success_replaces_the_file(tmp_path):
    target = tmp_path / "out" / "result.json"      # the folder is made
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".json" and tmp != target
        assert tmp.name.startswith(".")                # hidden while being written
        tmp.write_text("first")
        assert not target.exists()                     # nothing under the final name yet
    assert target.read_text() == "first"
    with atomic_output(target) as tmp:
        tmp.write_text("second")
        assert target.read_text() == "first"           # the old file stays until the end
    assert target.read_text() == "second"
    assert _listing(target.parent) == ["result.json"]  # no temp left behind


def test_error_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise Boom()
    assert target.read_text() == "old"
    assert _listing(tmp_path) == ["result.json"]
    # A block that writes nothing is an error too, the old file untouched.
    with pytest.raises(PoseTfError, match="nothing was written"):
        with atomic_output(target):
            pass
    assert target.read_text() == "old" and _listing(tmp_path) == ["result.json"]


def test_folder_target_is_swapped(tmp_path):
    target = tmp_path / "saved_model"
    (target / "variables").mkdir(parents=True)
    (target / "old.pb").write_text("old")
    with atomic_output(target) as tmp:
        (tmp / "assets").mkdir(parents=True)
        (tmp / "new.pb").write_text("new")
        assert (target / "old.pb").exists()
    assert _listing(target) == ["assets", "new.pb"]
    assert _listing(tmp_path) == ["saved_model"]       # neither the temp nor the old folder
    # A failed folder write leaves the previous folder as it was.
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.mkdir()
            (tmp / "partial").write_text("x")
            raise RuntimeError("export failed")
    assert _listing(target) == ["assets", "new.pb"] and _listing(tmp_path) == ["saved_model"]


def test_folder_replaces_a_file_and_a_stale_temp_is_cleared(tmp_path):
    target = tmp_path / "model"
    target.write_text("a file")
    stale = tmp_path / "model.tmp-1"
    stale.mkdir()
    (stale / "junk").write_text("from a killed run")
    with atomic_output(target, temp=stale) as tmp:
        assert tmp == stale and not tmp.exists()       # the explicit temp name, emptied
        tmp.mkdir()
        (tmp / "x").write_text("y")
    assert (target / "x").read_text() == "y" and _listing(tmp_path) == ["model"]


def test_text_helpers_are_built_on_it(tmp_path):
    target = tmp_path / "a" / "m.json"
    write_json_atomic(target, {"k": [1, 2]}, indent=2)
    assert json.loads(target.read_text()) == {"k": [1, 2]} and target.read_text().endswith("\n")
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object()})   # not serialisable: old file kept
    assert json.loads(target.read_text()) == {"k": [1, 2]}
    assert _listing(target.parent) == ["m.json"]


def test_video_writer_appears_only_when_closed(tmp_path):
    from pose_tf.io.video import VideoWriter

    frame = np.zeros((32, 48, 3), np.uint8)
    target = tmp_path / "clip.mp4"
    writer = VideoWriter(target, 10, (48, 32))
    writer.write(frame)
    assert not target.exists() and len(_listing(tmp_path)) == 1
    assert _listing(tmp_path)[0].endswith(".mp4")      # cv2 picks the container by suffix
    writer.close()
    assert target.stat().st_size > 0 and _listing(tmp_path) == ["clip.mp4"]
    with pytest.raises(ValueError):
        with VideoWriter(tmp_path / "broken.mp4", 10, (48, 32)) as w:
            w.write(frame)
            raise ValueError("stop")
    assert _listing(tmp_path) == ["clip.mp4"]
