"""The export command: checked ONNX files, parity with PyTorch, a truthful manifest, nothing half-written on failure."""
import hashlib
import json
import shutil

import numpy as np
import onnx
import pytest
import torch

from digitguard.export import __main__ as export_cli
from digitguard.export import zoo
from digitguard.export.manifest import publish
from digitguard.export.onnx_export import ExportError, FusedPipeline, check, export
from digitguard.export.parity import TOLERANCE, compare, composed, load_session, outputs_of
from digitguard.runtime import InvalidInputError
from digitguard.runtime.contract import CONTRACT, INPUT_NAME, MODEL_NAMES
from digitguard.runtime.manifest import Manifest
from digitguard.train import checkpoint, flag
from digitguard.train.models import adversarial_score, build

EXPECTED_OUTPUTS = {
    "baseline": {"logits": ["N", 10]}, "mitigation": {"logits": ["N", 10]}, "detector": {"logits": ["N", 2]},
    "purifier": {"purified": ["N", 1, 28, 28]},
    "pipeline": {"label": ["N"], "probs": ["N", 10], "adversarial_score": ["N"], "flagged": ["N"],
                 "purified": ["N", 1, 28, 28]},
    "screen": {"adversarial_score": ["N"], "probs": ["N", 10]},
}
INT8 = ("baseline.int8", "mitigation.int8")  # the flag stays fp32 (export/quantize.py)
EXPORTED = (*MODEL_NAMES, "pipeline", "screen", *INT8)  # every file made from the checkpoints; zoo.onnx is not


@pytest.fixture(scope="module")
def manifest(quick_artifacts):
    return json.loads((quick_artifacts / "manifest.json").read_text())


@pytest.fixture(scope="module")
def demo(quick_artifacts):
    """The shipped demo digits, clean and attacked: realistic inputs for the checks below."""
    d = np.load(quick_artifacts / "samples" / "demo.npz")
    return np.concatenate([d["clean"], d["adversarial"]]), d


@pytest.mark.slow
def test_manifest_lists_every_file_with_its_sha256(quick_checkpoints, quick_artifacts, manifest):
    assert manifest["format_version"] == 1 and manifest["contract"] == CONTRACT
    assert list(manifest["models"]) == [*EXPORTED, "zoo"]
    assert manifest["policy"] == {"classifier": "mitigation", "flagged_classifier": "mitigation",
                                  "purify_flagged": False, "reject_flagged": False}
    for name, e in manifest["models"].items():
        data = (quick_artifacts / e["file"]).read_bytes()
        assert e["file"] == f"{name}.onnx"
        assert e["sha256"] == hashlib.sha256(data).hexdigest() and e["bytes"] == len(data), name
        assert e["inputs"] == {INPUT_NAME: ["N", 1, 28, 28]}
    for name in EXPORTED:
        e = manifest["models"][name]
        assert e["opset"] >= 17 and e["outputs"] == EXPECTED_OUTPUTS[name.removesuffix(".int8")], name
    detector = checkpoint.load(quick_checkpoints, "detector")[1]
    flag_info = json.loads((quick_checkpoints / "flag.json").read_text())  # detector.onnx is the flag (train/flag.py)
    assert manifest["detector"]["threshold"] == flag_info["metrics"]["threshold"]
    assert manifest["models"]["detector"]["training"] == {"detector": detector["config"], "flag": flag_info["config"]}
    assert manifest["models"]["screen"]["classifier"] == manifest["policy"]["classifier"]


def test_zoo_yardstick_is_a_fixed_seed_graph(tmp_path):
    e = zoo.write_zoo(tmp_path)
    data = (tmp_path / "zoo.onnx").read_bytes()
    assert data == zoo.zoo_classifier()  # the same bytes on every export
    assert e["sha256"] == hashlib.sha256(data).hexdigest() and e["file"] == "zoo.onnx"
    assert e["inputs"] == {INPUT_NAME: ["N", 1, 28, 28]} and e["outputs"] == {"logits": ["N", 10]}
    assert "yardstick" in e["purpose"] and "random weights" in e["purpose"]
    (logits,) = outputs_of(load_session(tmp_path / "zoo.onnx"), np.zeros((3, 1, 28, 28), np.float32)).values()
    assert logits.shape == (3, 10) and np.isfinite(logits).all()


@pytest.mark.slow
def test_export_ships_the_zoo_yardstick(quick_artifacts, manifest, tmp_path):
    assert manifest["models"]["zoo"] == zoo.write_zoo(tmp_path)
    assert Manifest.load(quick_artifacts).verify("zoo") == quick_artifacts / "zoo.onnx"  # the runtime finds it


@pytest.mark.slow
def test_zoo_command_adds_only_the_zoo_entry(quick_artifacts, manifest, tmp_path):
    """What put zoo.onnx into the shipped artifacts/: every other file and entry stays as it was."""
    folder = tmp_path / "artifacts"
    shutil.copytree(quick_artifacts, folder)
    older = json.loads((folder / "manifest.json").read_text())
    del older["models"]["zoo"]
    (folder / "manifest.json").write_text(json.dumps(older))
    (folder / "zoo.onnx").unlink()
    before = {p.name: p.read_bytes() for p in folder.glob("*.onnx")}
    zoo.main(["--artifacts", str(folder)])
    assert json.loads((folder / "manifest.json").read_text()) == manifest
    assert {p.name: p.read_bytes() for p in folder.glob("*.onnx") if p.name != "zoo.onnx"} == before
    assert [p.name for p in folder.glob(".*")] == []  # no partial manifest left behind


@pytest.mark.slow
def test_files_pass_checker_and_recorded_parity(quick_artifacts, manifest):
    for name, e in manifest["models"].items():
        check(quick_artifacts / e["file"])
    for name in EXPORTED:
        e = manifest["models"][name]
        if name not in INT8:  # INT8 parity with fp32 is measured, not required
            limit = TOLERANCE["purified" if name == "purifier" else "logits"]
            assert e["parity"]["max_abs_diff"] <= limit and e["parity"]["images"] >= 400, name
            assert e["parity"]["argmax_agreement"] in (None, 1.0), name
    for name in INT8:
        metrics = manifest["models"][name]["metrics"]
        assert -100 <= metrics["drop_points"] <= 100 and metrics["test_images"] > 0  # INT8 may even gain a little
        if "test_accuracy_int8" in metrics:
            expected = 100 * (metrics["test_accuracy_fp32"] - metrics["test_accuracy_int8"])
            assert metrics["drop_points"] == pytest.approx(expected)


@pytest.mark.slow
def test_onnx_matches_pytorch_checkpoints(quick_checkpoints, quick_artifacts, demo):
    images, _ = demo
    for name in MODEL_NAMES:
        model, _ = checkpoint.load(quick_checkpoints, name)
        if name == "detector":  # detector.onnx is the flag over the detector and its classifier (train/flag.py)
            model, _ = flag.load(quick_checkpoints, model, checkpoint.load(quick_checkpoints, flag.CLASSIFIER)[0])
        with torch.no_grad():
            expected = model(torch.from_numpy(images)).numpy()
        (got,) = outputs_of(load_session(quick_artifacts / f"{name}.onnx"), images).values()
        limit = TOLERANCE["purified" if name == "purifier" else "logits"]
        assert np.abs(got - expected).max() <= limit, name


@pytest.mark.slow
def test_pipeline_follows_the_policy_and_matches_the_composed_models(quick_artifacts, manifest, demo):
    images, d = demo
    threshold, policy = manifest["detector"]["threshold"], manifest["policy"]
    fused = load_session(quick_artifacts / "pipeline.onnx")
    out = outputs_of(fused, images[:5])  # odd batch: the batch axis is dynamic
    assert out["label"].dtype == np.int64 and out["flagged"].dtype == np.bool_
    assert (out["label"] == out["probs"].argmax(1)).all()
    assert (out["flagged"] == (out["adversarial_score"] >= np.float32(threshold))).all()
    assert np.allclose(out["probs"].sum(1), 1, atol=1e-5)
    unflagged = ~out["flagged"]
    assert np.array_equal(out["purified"][unflagged], images[:5][unflagged])

    sessions = {name: load_session(quick_artifacts / f"{name}.onnx") for name in MODEL_NAMES}
    reference = composed(sessions, images, threshold, policy["classifier"], policy["flagged_classifier"],
                         policy["purify_flagged"])
    got = outputs_of(fused, images)
    assert np.array_equal(got["label"], reference["label"]) and np.array_equal(got["flagged"], reference["flagged"])
    assert np.abs(got["probs"] - reference["probs"]).max() <= TOLERANCE["probs"]
    assert d["clean"].shape == d["adversarial"].shape == (8, 1, 28, 28) and d["labels"].shape == (8,)
    assert np.abs(d["adversarial"] - d["clean"]).max() <= 0.3 + 1e-6


@pytest.fixture(scope="module")
def random_models():
    """Untrained networks: every architecture, and a purifier whose output is not all black as a quick one may be."""
    torch.manual_seed(0)
    return {"baseline": build("baseline"), "detector": build("detector"), "purifier": build("purifier"),
            "mitigation": build("mitigation", "resnet", 8)}


def test_every_architecture_exports_with_parity(random_models, tmp_path):
    images = torch.rand(37, 1, 28, 28)
    for name, model in [*random_models.items(), ("mitigation", build("mitigation", "cnn", 16))]:
        export(model, tmp_path / f"{name}.onnx", name)
        with torch.no_grad():
            expected = model.eval()(images).numpy()
        got = outputs_of(load_session(tmp_path / f"{name}.onnx"), images.numpy())
        (output,) = got
        _, breaches = compare(name, {output: expected}, got)
        assert breaches == [], breaches


@pytest.mark.parametrize("purify", [True, False])
def test_pipeline_with_two_classifiers_matches_the_composed_models(random_models, tmp_path, purify):
    """classifier != flagged_classifier: flagged rows must take the purifier (if purify) and the second classifier."""
    images = torch.rand(64, 1, 28, 28)
    with torch.no_grad():
        scores = np.sort(adversarial_score(random_models["detector"].eval()(images)).numpy())
    threshold = float((scores[31] + scores[32]) / 2)  # half the batch flagged, no score on the edge
    export(FusedPipeline(random_models, threshold, "baseline", "mitigation", purify), tmp_path / "pipeline.onnx", "pipeline")
    for name, model in random_models.items():
        export(model, tmp_path / f"{name}.onnx", name)
    sessions = {name: load_session(tmp_path / f"{name}.onnx") for name in random_models}
    reference = composed(sessions, images.numpy(), threshold, "baseline", "mitigation", purify)
    got = outputs_of(load_session(tmp_path / "pipeline.onnx"), images.numpy())
    _, breaches = compare("pipeline", reference, got)
    assert breaches == [] and reference["flagged"].sum() == 32
    assert np.array_equal(got["purified"], images.numpy()) != purify  # untouched exactly when not purifying


def _sabotage(kind):
    """A torch.onnx.export that spoils the mitigation file it writes: slightly wrong weights, or bytes cut short."""
    real = torch.onnx.export

    def export(model, args, path, *a, **kw):
        real(model, args, path, *a, **kw)
        if "mitigation" not in str(path):
            return
        if kind == "perturbed":
            m = onnx.load(path)
            for init in m.graph.initializer:
                weights = onnx.numpy_helper.to_array(init)
                init.CopyFrom(onnx.numpy_helper.from_array(weights * np.float32(1.001), init.name))
            onnx.save(m, path)
        else:
            data = open(path, "rb").read()
            open(path, "wb").write(data[: len(data) // 2])

    return export


@pytest.mark.slow
@pytest.mark.parametrize("kind, message", [("perturbed", "max |diff| logits"),
                                           ("truncated", "mitigation.onnx is not a valid ONNX model")])
def test_bad_export_exits_nonzero_and_leaves_out_untouched(kind, message, quick_checkpoints, tmp_path, monkeypatch):
    out = tmp_path / "artifacts"
    out.mkdir()
    (out / "manifest.json").write_text("previous export")
    monkeypatch.setattr(torch.onnx, "export", _sabotage(kind))
    with pytest.raises(SystemExit) as exit_:
        export_cli.main(["--checkpoints", str(quick_checkpoints), "--out", str(out), "--parity-images", "20",
                         "--no-int8"])
    assert exit_.value.code not in (0, None)
    assert message in str(exit_.value.code) and "mitigation" in str(exit_.value.code)
    assert [p.name for p in out.iterdir()] == ["manifest.json"]
    assert (out / "manifest.json").read_text() == "previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["artifacts"]  # the staging folder is gone too


@pytest.mark.slow
def test_corrupted_onnx_is_reported_clearly(quick_artifacts, tmp_path):
    broken = onnx.load(quick_artifacts / "baseline.onnx")
    broken.graph.node[0].input[0] = "nowhere"  # a dangling edge: loads fine, the checker must refuse it
    onnx.save(broken, tmp_path / "baseline.onnx")
    with pytest.raises(ExportError, match="baseline.onnx is not a valid ONNX model"):
        check(tmp_path / "baseline.onnx")
    (tmp_path / "garbage.onnx").write_bytes(b"\x08\x07not a protobuf at all")
    with pytest.raises(ExportError, match="garbage.onnx is not a valid ONNX model"):
        check(tmp_path / "garbage.onnx")


def test_help_names_the_defaults(capsys):
    with pytest.raises(SystemExit) as exit_:
        export_cli.parse_args(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines at the terminal width
    assert "(default: checkpoints/)" in text and "(default: artifacts/)" in text
    args = export_cli.parse_args([])
    assert (args.checkpoints, args.out, args.parity_images) == ("checkpoints", "artifacts", 1000)


def test_export_validates_the_policy_before_any_work():
    """The manifest's policy is built by the runtime's Policy, so a policy the runtime would refuse never ships."""
    args = export_cli.parse_args([])
    args.flagged_classifier = "purifier"  # argparse's choices stop this on the command line; the API must too
    with pytest.raises(InvalidInputError, match="'purifier' is not a classifier"):
        export_cli.build(args, models=None, infos=None, data=None, staging=None)


@pytest.mark.parametrize("old_manifest", ["listed", "garbage", "missing"])
def test_publishing_removes_models_no_longer_exported_and_nothing_else(tmp_path, old_manifest):
    out, staging = tmp_path / "artifacts", tmp_path / "staging"
    (out / "checkpoints").mkdir(parents=True)
    staging.mkdir()
    for name in ("kept.onnx", "dropped.int8.onnx", "checkpoints/model.safetensors", "notes.txt"):
        (out / name).write_text("old")
    (tmp_path / "outside.onnx").write_text("not ours")
    if old_manifest != "missing":
        listed = {"kept": {"file": "kept.onnx"}, "dropped": {"file": "dropped.int8.onnx"},
                  "escape": {"file": "../outside.onnx"}, "nested": {"file": "checkpoints/model.safetensors"},
                  "sly": {"file": "elsewhere/notes.txt"}}
        (out / "manifest.json").write_text(json.dumps({"models": listed}) if old_manifest == "listed" else "{[")
    (staging / "kept.onnx").write_text("new")
    publish(staging, out, {"models": {"kept": {"file": "kept.onnx"}}})
    assert (out / "kept.onnx").read_text() == "new"
    assert (out / "dropped.int8.onnx").exists() == (old_manifest != "listed")  # only a model the old manifest listed
    assert (out / "checkpoints" / "model.safetensors").exists() and (out / "notes.txt").exists()
    assert (tmp_path / "outside.onnx").exists()
    assert json.loads((out / "manifest.json").read_text()) == {"models": {"kept": {"file": "kept.onnx"}}}
