"""Convert reruns are exact: every finished shard has a manifest, a rerun keeps only the
shards that verify against it, and any rerun ends with the records of a clean run."""
import glob
import hashlib
import json
import os

import pytest

from convert_testutil import run_convert
from pose_tf.cli import main as cli_main
from pose_tf.core.errors import PoseTfError
from pose_tf.data import records
from test_convert_driver import _synthetic_coco

PREFIX = "coco-img"


def _shards(out, prefix=PREFIX):
    return sorted(glob.glob(records.shard_glob(out, prefix)))


def _records_of(out, prefix=PREFIX):
    """{shard name: [serialized records]} of a folder."""
    return {os.path.basename(p): list(records.read_records(p)) for p in _shards(out, prefix)}


@pytest.fixture
def source(tmp_path):
    ann, img, data = _synthetic_coco(tmp_path / "src", n=6)
    return ann, img, data


def test_manifest_describes_the_shard_it_sits_beside(tmp_path, source):
    ann, img, _ = source
    run_convert("coco", ann, img, tmp_path / "out", num_shards=3)
    for index, shard in enumerate(_shards(tmp_path / "out")):
        manifest = json.loads(open(records.manifest_path(shard)).read())
        content = open(shard, "rb").read()
        assert manifest["shard"] == os.path.basename(shard)
        assert manifest["records"] == 2 == len(list(records.read_records(shard)))
        assert manifest["bytes"] == len(content)
        assert manifest["sha256"] == hashlib.sha256(content).hexdigest()
        assert manifest["inputs"]["shard"] == index and manifest["inputs"]["num_shards"] == 3
        assert manifest["inputs"]["variant"] == "orig" and manifest["inputs"]["entries"] == 2
        assert records.shard_problem(shard, manifest["fingerprint"]) == ""
    assert records.scan_shard(_shards(tmp_path / "out")[0])[0] == 2


def test_rerun_after_a_truncated_shard_converts_it_again(tmp_path, source):
    ann, img, _ = source
    _, clean = run_convert("coco", ann, img, tmp_path / "clean", num_shards=3, variants=("flip",))
    out = tmp_path / "out"
    run_convert("coco", ann, img, out, num_shards=3, variants=("flip",))
    damaged = records.shard_path(out, PREFIX, 1, 3)
    size = os.path.getsize(damaged)
    with open(damaged, "r+b") as f:
        f.truncate(size - 100)                      # the last record loses its end
    with pytest.raises(PoseTfError, match="truncated TFRecord shard"):
        records.scan_shard(damaged)
    summary, _ = run_convert("coco", ann, img, out, num_shards=3, variants=("flip",))
    assert (summary.shards_replaced, summary.shards_written, summary.shards_skipped) == (1, 1, 2)
    assert summary.records_written == 2            # shard 1's orig only; its flip verified
    assert _records_of(out) == _records_of(tmp_path / "clean")
    assert _records_of(out, f"{PREFIX}-flip") == _records_of(tmp_path / "clean", f"{PREFIX}-flip")
    assert len(clean) == 6


def test_rerun_after_corrected_annotations_converts_exactly_the_changed_shards(tmp_path, source):
    ann, img, data = source
    out = tmp_path / "out"
    run_convert("coco", ann, img, out, num_shards=3)
    before = {p: os.stat(p).st_mtime_ns for p in _shards(out)}
    data["annotations"][5]["keypoints"][15:18] = [30, 20, 1]      # image 6: shard 2
    ann.write_text(json.dumps(data))
    summary, corrected = run_convert("coco", ann, img, out, num_shards=3)
    assert (summary.shards_replaced, summary.shards_written, summary.shards_skipped) == (1, 1, 2)
    assert corrected["005.jpg"].keypoints[0, 5].tolist() == [30.5, 20.5, 1]
    run_convert("coco", ann, img, tmp_path / "clean", num_shards=3)
    assert _records_of(out) == _records_of(tmp_path / "clean")
    after = {p: os.stat(p).st_mtime_ns for p in _shards(out)}
    assert [p for p in before if before[p] != after[p]] == [records.shard_path(out, PREFIX, 2, 3)]
    # Image 000 dropped from the file: the slices become [001], [002 003], [004 005]; the
    # last two hold what they held, only shard 0 differs (it had 000 001).
    del data["images"][0]
    data["annotations"] = data["annotations"][1:]
    ann.write_text(json.dumps(data))
    summary, _ = run_convert("coco", ann, img, out, num_shards=3)
    assert (summary.shards_replaced, summary.shards_skipped, summary.images_written) == (1, 2, 1)
    run_convert("coco", ann, img, tmp_path / "clean5", num_shards=3)
    assert _records_of(out) == _records_of(tmp_path / "clean5")


def test_a_shard_without_its_manifest_is_converted_again(tmp_path, source):
    """As left by an older pose-tf, or by a stray copy: nothing says what it holds."""
    ann, img, _ = source
    out = tmp_path / "out"
    run_convert("coco", ann, img, out, num_shards=2)
    os.remove(records.manifest_path(records.shard_path(out, PREFIX, 0, 2)))
    summary, _ = run_convert("coco", ann, img, out, num_shards=2)
    assert (summary.shards_replaced, summary.shards_written, summary.shards_skipped) == (1, 1, 1)
    assert os.path.exists(records.manifest_path(records.shard_path(out, PREFIX, 0, 2)))


def test_another_num_shards_into_the_same_out_is_refused_with_one_line(tmp_path, source, capsys):
    ann, img, _ = source
    out = tmp_path / "out"
    run_convert("coco", ann, img, out, num_shards=3, variants=("rot90",))
    before = sorted(os.listdir(out))
    args = ["convert", "coco", "--annotations", str(ann), "--images", str(img), "--out", str(out),
            "--no-progress", "--workers", "1"]
    assert cli_main(args + ["--num-shards", "2"]) == 2
    first = records.shard_path(out, PREFIX, 0, 3)
    assert capsys.readouterr().err == (
        f"pose-tf convert: error: {first}: {out} holds 3 shard(s) of {PREFIX} in another "
        f"--num-shards layout than this run's 2; remove them (or use another --out or --prefix)\n")
    assert sorted(os.listdir(out)) == before            # nothing written, nothing removed
    # Automatic sharding (one shard for 6 images) is another layout too; so are variants.
    for path in _shards(out):
        os.remove(path)
    assert cli_main(args) == 2
    assert f"{PREFIX}-rot90 in another --num-shards layout than this run's 1" in capsys.readouterr().err
    for path in _shards(out, f"{PREFIX}-rot90"):
        os.remove(path)
    assert cli_main(args) == 0
    _, clean = run_convert("coco", ann, img, tmp_path / "clean", num_shards=1)
    assert _records_of(out) == _records_of(tmp_path / "clean")
