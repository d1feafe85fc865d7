"""Experiment settings: the shipped files load, bad files fail naming file and key."""
from pathlib import Path

import pytest

from pose_tf.core.errors import PoseTfError
from pose_tf.training.settings import BACKBONES, load_setting

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = sorted((ROOT / "setting").glob("*.yaml"))

ORIGINAL_SIX = (
    "MPPE_F6_FPN_MOBILENET_THIN_0.75_MSE_368_432_v1",
    "MPPE_F7_FPN_MOBILENET_THIN_0.75_MSE_368_432_v1",
    "MPPE_F6_small_FPN_MOBILENET_THIN_MSE_368_432_v6",
    "MPPE_F6_MOBILENET_v1_0.5_MSE_368_432_v1",
    "MPPE_F6_MOBILENET_v2_0.5_MSE_368_432_v1",
    "MPPE_F6_SHUFFLENET_v2_0.5_MSE_368_432_v1",
)


def test_the_original_six_models_are_declared():
    names = {p.stem for p in SETTINGS}
    assert set(ORIGINAL_SIX) <= names


@pytest.mark.parametrize("path", SETTINGS, ids=lambda p: p.stem)
def test_every_shipped_setting_loads(path):
    setting = load_setting(path)
    assert setting.name == path.stem
    assert setting.model.backbone in BACKBONES
    # Relative paths are resolved against the setting file's folder.
    assert Path(setting.data.recipe).is_absolute()
    assert Path(setting.data.recipe).parent == ROOT / "datasets"
    assert Path(setting.training.logs_dir) == ROOT / "logs"


def test_names_match_their_contents():
    # The name encodes fusion, backbone, width and input size; the file must agree.
    for name in ORIGINAL_SIX:
        s = load_setting(ROOT / "setting" / f"{name}.yaml")
        assert s.data.input_size == [368, 432]
        assert Path(s.data.recipe).stem == name.split("_")[1]
        if "_0.75_" in name:
            assert s.model.alpha == 0.75
        if "_0.5_" in name:
            assert s.model.alpha == 0.5
        assert ("FPN" in name) == (s.model.neck == "fpn")
        expected = {"THIN": "mobilenet_thin", "v1": "mobilenet_v1", "v2": "mobilenet_v2",
                    "SHUFFLENET": "shufflenet_v2"}
        assert any(key in name and s.model.backbone == value for key, value in expected.items())


def _write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_unknown_key_names_file_and_dotted_key(tmp_path):
    path = _write(tmp_path, "model: {backbone: mobilenet_thin, alpah: 0.5}\ndata: {recipe: r.yaml}\n")
    with pytest.raises(PoseTfError) as err:
        load_setting(path)
    assert str(path) in str(err.value) and "model.alpah" in str(err.value)


@pytest.mark.parametrize("text, key", [
    ("model: {backbone: resnet}\ndata: {recipe: r.yaml}", "model.backbone"),
    ("model: {alpha: wide}\ndata: {recipe: r.yaml}", "model.alpha"),
    ("model: {alpha: 5.0}\ndata: {recipe: r.yaml}", "model.alpha"),
    ("model: {refine_kernel: 4}\ndata: {recipe: r.yaml}", "model.refine_kernel"),
    ("data: {recipe: r.yaml, input_size: [368, 430]}", "data.input_size"),
    ("data: {recipe: r.yaml, augment: {rotation: 10}}", "data.augment.rotation"),
    ("data: {recipe: r.yaml}\ntraining: {steps: 0}", "training.steps"),
    ("data: {recipe: r.yaml}\ntraining: {lr: {schedule: linear}}", "training.lr.schedule"),
    ("data: {recipe: r.yaml}\ntraining: {lr: {schedule: step}}", "training.lr.boundaries"),
    ("data: {recipe: r.yaml}\ntraining: {optimizer: lion}", "training.optimizer"),
    ("data: {recipe: r.yaml}\ntraining: {mixed_precision: yes}", "training.mixed_precision"),
    ("data: {recipe: r.yaml}\ntraining: {paf_loss_weight: 0}", "training.paf_loss_weight"),
    ("data: {recipe: r.yaml}\ntraining: {bn_recalibration_batches: -1}",
     "training.bn_recalibration_batches"),
    ("data: {recipe: r.yaml}\nevaluation: {seen_images: train2017}", "evaluation.seen_annotations"),
    ("data: {recipe: r.yaml}\ntraining: {batch_norm: frozen}", "training.batch_norm"),
    ("data: {recipe: r.yaml}\nevaluation: {best_on: test}", "evaluation.best_on"),
    ("data: {recipe: r.yaml}\nevaluation: {best_on: seen}", "evaluation.seen_annotations"),
    ("model: {}", "'data'"),
    ("data: {input_size: [368, 432]}", "data.recipe"),
])
def test_bad_values_name_the_key(tmp_path, text, key):
    path = _write(tmp_path, text + "\n")
    with pytest.raises(PoseTfError) as err:
        load_setting(path)
    message = str(err.value)
    assert str(path) in message and key in message, message


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(PoseTfError, match="not found"):
        load_setting(tmp_path / "nope.yaml")


def test_relative_paths_follow_the_setting_file(tmp_path):
    folder = tmp_path / "setting"
    folder.mkdir()
    path = folder / "x.yaml"
    path.write_text("data: {recipe: ../datasets/r.yaml}\n"
                    "training: {work_dir: ../runs}\n"
                    "evaluation: {annotations: a.json, images: /abs/images}\n")
    s = load_setting(path)
    assert s.data.recipe == str(tmp_path / "datasets" / "r.yaml")
    assert s.training.work_dir == str(tmp_path / "runs")
    assert s.evaluation.annotations == str(folder / "a.json")
    assert s.evaluation.images == "/abs/images"


def test_train_command_reports_bad_setting_without_traceback(tmp_path, capsys):
    from pose_tf.cli import main

    path = _write(tmp_path, "data: {recipe: r.yaml}\nmodel: {stages: 0}\n")
    assert main(["train", "--setting", str(path)]) == 2
    err = capsys.readouterr().err
    assert "model.stages" in err and str(path) in err and "Traceback" not in err
    assert main(["train", "--setting", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


# -- the inputs of a run, checked before it starts ---------------------------------------

def test_a_run_with_every_input_present_passes_the_checks(tmp_path):
    from _train_tools import run_setting_file
    from pose_tf.training.preflight import check_run_inputs

    setting = load_setting(run_setting_file(tmp_path))
    check_run_inputs(setting)
    assert setting.evaluation.seen_images == str(tmp_path / "train")


@pytest.mark.parametrize("key", [
    "evaluation.annotations", "evaluation.images", "evaluation.seen_annotations",
    "evaluation.seen_images", "distillation.teacher", "training.init_from"])
def test_a_missing_input_names_the_setting_the_key_and_the_path(tmp_path, key):
    import shutil

    from _train_tools import RUN_INPUTS, run_setting_file
    from pose_tf.training.preflight import check_run_inputs

    path = run_setting_file(tmp_path)
    missing = tmp_path / RUN_INPUTS[key]
    shutil.rmtree(missing) if missing.is_dir() else missing.unlink()
    with pytest.raises(PoseTfError) as err:
        check_run_inputs(load_setting(path))
    assert str(err.value) == f"{path}: {key}: {missing} not found"


def test_missing_records_or_recipe_name_the_recipe_key(tmp_path):
    from _train_tools import RUN_INPUTS, run_setting_file
    from pose_tf.training.preflight import check_run_inputs

    path = run_setting_file(tmp_path)
    (tmp_path / RUN_INPUTS["data.recipe"]).unlink()
    with pytest.raises(PoseTfError) as err:
        check_run_inputs(load_setting(path))
    message = str(err.value)
    assert message.startswith(f"{path}: data.recipe: {tmp_path / 'recipe.yaml'}: source 'people'")
    assert str(tmp_path / "records" / "people-*-of-*.tfrecord") in message
    assert "\n" not in message
    (tmp_path / "recipe.yaml").unlink()
    with pytest.raises(PoseTfError) as err:
        check_run_inputs(load_setting(path))
    assert str(err.value) == f"{path}: data.recipe: config file not found: {tmp_path / 'recipe.yaml'}"


def test_a_file_where_a_folder_belongs_and_an_unset_evaluation_key(tmp_path):
    import shutil

    from _train_tools import run_setting_file
    from pose_tf.training.preflight import check_run_inputs

    path = Path(run_setting_file(tmp_path))
    shutil.rmtree(tmp_path / "val")
    (tmp_path / "val").write_text("not a folder")
    with pytest.raises(PoseTfError) as err:
        check_run_inputs(load_setting(path))
    assert str(err.value) == f"{path}: evaluation.images: {tmp_path / 'val'} is not a folder"
    path.write_text(path.read_text().replace("annotations: val.json, images: val, ", ""))
    with pytest.raises(PoseTfError) as err:
        check_run_inputs(load_setting(path))
    assert str(err.value) == (f"{path}: evaluation.annotations is not set, and "
                              f"training.eval_every (1) schedules evaluations")


def test_inputs_the_run_will_not_read_are_not_required(tmp_path):
    """No evaluation without eval_every; init_from only seeds a fresh run (a run with
    checkpoints resumes from them); records and evaluation of callers that bring their own."""
    from _train_tools import RUN_INPUTS, run_setting_file
    from pose_tf.training.preflight import check_run_inputs

    path = Path(run_setting_file(tmp_path))
    for key in ("evaluation.annotations", "training.init_from", "data.recipe"):
        (tmp_path / RUN_INPUTS[key]).unlink()
    setting = load_setting(path)
    with pytest.raises(PoseTfError, match="evaluation.annotations"):
        check_run_inputs(setting, records=False)
    with pytest.raises(PoseTfError, match="training.init_from"):
        check_run_inputs(setting, records=False, evaluation=False)
    path.write_text(path.read_text().replace("eval_every: 1", "eval_every: 0"))
    setting = load_setting(path)
    with pytest.raises(PoseTfError, match="training.init_from"):
        check_run_inputs(setting, records=False)
    checkpoints = tmp_path / "runs" / "setting" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\n')
    check_run_inputs(setting, records=False)
    with pytest.raises(PoseTfError, match="data.recipe"):
        check_run_inputs(setting)
