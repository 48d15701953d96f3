"""Pipeline: loading and verifying models, the policy, and a typed error for every kind of bad input."""
import json
import re
import shutil
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from digitguard.runtime import (DigitguardError, ImageReadError, ImageTooLargeError, InvalidInputError, ManifestError,
                                ModelError, Pipeline, Policy, Result)
from digitguard.runtime.manifest import load_samples
from digitguard.runtime.sessions import CPU, Classifier, Detector
from tests.helpers.images import drawn_digit


@pytest.fixture(scope="module")
def pipeline(shipped_artifacts):
    return Pipeline.load(shipped_artifacts)


@pytest.fixture
def artifacts_copy(shipped_artifacts, tmp_path):
    """A private copy of the models to damage."""
    return shutil.copytree(shipped_artifacts, tmp_path / "artifacts")


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "seven.png"
    cv2.imwrite(str(path), 255 - cv2.resize(drawn_digit("7"), (112, 112)))
    return path


def test_predict_returns_one_result_per_image(pipeline, png):
    digits = np.stack([drawn_digit(str(d)) for d in range(5)])
    for x, n in [(png, 1), (str(png), 1), (digits[0], 1), (digits, 5), (digits[:, None] / 255.0, 5),
                 (cv2.imread(str(png)), 1), ([png, digits[0]], 2)]:
        results = pipeline.predict(x)
        assert len(results) == n and all(isinstance(r, Result) and r.ok for r in results)
        r = results[0]
        assert 0 <= r.label < 10 and len(r.probs) == 10 and r.confidence == max(r.probs)
        assert 0 <= r.adversarial_score <= 1 and r.flagged == (r.adversarial_score >= pipeline.threshold)
        assert r.classifier == "mitigation"
    assert pipeline.predict(png)[0].source == str(png)


def test_list_reports_bad_items_and_answers_the_others(pipeline, png, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    results = pipeline.predict([png, bad, tmp_path / "missing.png", png])
    assert [r.ok for r in results] == [True, False, False, True]
    assert isinstance(results[1].error, ImageReadError) and "notes.png" in str(results[1].error)
    assert results[1].to_dict() == {"source": str(bad), "error": str(results[1].error)}
    assert results[0].label == results[3].label is not None
    assert isinstance(pipeline.predict([42])[0].error, InvalidInputError)


def bad_files(tmp_path, png):
    empty = tmp_path / "empty.png"
    empty.touch()
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(png.read_bytes()[:60])
    text = tmp_path / "text.png"
    text.write_text("hello, I am not a PNG\n")
    huge = tmp_path / "huge.png"  # a real PNG whose header claims 10000x10000 pixels
    data = bytearray(png.read_bytes())
    data[16:24] = (10000).to_bytes(4, "big") * 2
    huge.write_bytes(bytes(data))
    return [(empty, ImageReadError, "empty"), (truncated, ImageReadError, "truncated"),
            (text, ImageReadError, "not a readable image"), (tmp_path / "missing.png", ImageReadError, "No such file"),
            (tmp_path, ImageReadError, "cannot read"), (huge, ImageTooLargeError, "10000x10000")]


def test_bad_files_raise_typed_errors_naming_the_file(pipeline, png, tmp_path):
    for path, error, words in bad_files(tmp_path, png):
        with pytest.raises(error) as info:
            pipeline.predict(path)
        assert path.name in str(info.value) and words in str(info.value)


@pytest.mark.parametrize("x, words", [
    (np.zeros((2, 3, 4, 5), np.uint8), "shape"), (np.zeros((5,), np.uint8), "shape"),
    (np.zeros((1, 1, 1, 28, 28), np.float32), "shape"), (np.zeros((0, 28, 28), np.uint8), "no images"),
    (np.zeros((0, 0), np.uint8), "empty"), (np.zeros((28, 28), np.int64), "dtype"),
    (np.zeros((28, 28), np.complex64), "dtype"), (np.array([["a"]]), "dtype"),
    (np.full((28, 28), np.nan, np.float32), "NaN"), (np.full((28, 28), np.inf), "NaN"),
    (np.full((28, 28), 255.0, np.float32), r"\[0, 1\]"), (np.full((28, 28), -0.5), r"\[0, 1\]"),
    (np.full((40, 40), 255, np.uint8), "no digit"),
    (42, "expected a path or a numpy array"),
])
def test_bad_arrays_raise_invalid_input(pipeline, x, words):
    with pytest.raises(InvalidInputError, match=words):
        pipeline.predict(x)


def test_a_stack_is_a_batch_its_bad_images_get_their_own_errors(pipeline, shipped_artifacts):
    """[N, H, W] and [N, 1, H, W]: NaN, out-of-range and blank images fail alone; the others read as on their own."""
    clean = load_samples(shipped_artifacts)[0][:4].reshape(4, 28, 28).astype(np.float32)
    bad = {1: (np.full((28, 28), np.nan, np.float32), "NaN"), 2: (np.full((28, 28), 2.0, np.float32), r"\[0, 1\]"),
           4: (np.zeros((28, 28), np.float32), "no digit found")}
    stack = list(clean)
    for i in sorted(bad):
        stack.insert(i, bad[i][0])
    alone = pipeline.predict(clean)
    for shaped in (np.stack(stack), np.stack(stack)[:, None]):
        results = pipeline.predict(shaped)
        assert [r.source for r in results] == [f"array[{i}]" for i in range(7)]
        for i, (_, words) in bad.items():
            assert isinstance(results[i].error, InvalidInputError) and results[i].label is None
            assert re.search(words, str(results[i].error)) and str(results[i].error).startswith(f"array[{i}]: ")
        good = [r for i, r in enumerate(results) if i not in bad]
        assert [(r.label, r.flagged) for r in good] == [(r.label, r.flagged) for r in alone]
        assert np.allclose([r.probs for r in good], [r.probs for r in alone], atol=1e-6)


def test_huge_array_is_refused_before_processing(pipeline):
    with pytest.raises(ImageTooLargeError, match="50,000,000"):
        pipeline.predict(np.zeros((8000, 7000), np.uint8))


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(dtype=st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_]),
                  shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=40)))  # floats: NaN, inf too
def test_random_arrays_give_results_or_typed_errors(pipeline, x):
    try:
        results = pipeline.predict(x)
    except DigitguardError as e:
        assert str(e)
    else:  # a stack is a batch: its images that fail get their own errors
        assert results and all(r.ok or isinstance(r.error, DigitguardError) for r in results)
        read = [r for r in results if r.ok]
        labels = [d.label for r in read for d in r.digits] if read and read[0].number else [r.label for r in read]
        assert all(0 <= label < 10 for label in labels)  # a still may read as a number: each of its digits then


@pytest.mark.parametrize("name", ["screen", "purifier", "mitigation"])  # what a purifying policy loads
def test_missing_model_file_is_named(artifacts_copy, name):
    (artifacts_copy / f"{name}.onnx").unlink()
    with pytest.raises(ModelError, match=f"{name}.onnx: model file missing"):
        Pipeline.load(artifacts_copy, policy={"purify_flagged": True})


def test_screen_gives_what_detector_and_classifier_give_apart(shipped_artifacts):
    """screen.onnx fuses the detector and the unflagged-path classifier: the same results, one call."""
    fused = Pipeline.load(shipped_artifacts, policy={"purify_flagged": True})  # flagged ones: a second run each way
    assert "screen" in fused.models and "detector" not in fused.models
    m = fused.manifest
    apart = Pipeline(m, fused.policy, {"detector": Detector(m.verify("detector"), [CPU]),
                                       "mitigation": Classifier(m.verify("mitigation"), [CPU]),
                                       "purifier": fused.models["purifier"]})
    clean, attacked, _ = load_samples(shipped_artifacts)
    images = np.concatenate([clean, attacked])
    for a, b in zip(fused.predict(images), apart.predict(images)):
        assert (a.label, a.flagged, a.purified, a.classifier) == (b.label, b.flagged, b.purified, b.classifier)
        assert np.allclose(a.probs, b.probs, atol=1e-5) and abs(a.adversarial_score - b.adversarial_score) < 1e-5


def test_tampered_model_fails_its_sha256(artifacts_copy):
    model = artifacts_copy / "screen.onnx"  # the one model every policy with the default classifier loads
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="screen.onnx: sha256 mismatch"):
        Pipeline.load(artifacts_copy)


def test_corrupt_onnx_refused_by_onnxruntime_is_a_model_error(artifacts_copy):
    from digitguard.runtime.manifest import sha256

    model, manifest = artifacts_copy / "screen.onnx", artifacts_copy / "manifest.json"
    model.write_bytes(b"\x08\x07garbage that is no protobuf")
    data = json.loads(manifest.read_text())
    data["models"]["screen"]["sha256"] = sha256(model)  # the checksum matches: only onnxruntime can object
    manifest.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="screen.onnx: onnxruntime cannot load"):
        Pipeline.load(artifacts_copy)


def test_missing_or_broken_manifest(artifacts_copy, tmp_path):
    with pytest.raises(ManifestError, match="manifest.json not found"):
        Pipeline.load(tmp_path / "nowhere")
    (artifacts_copy / "manifest.json").write_text("{ not json")
    with pytest.raises(ManifestError, match="unreadable manifest"):
        Pipeline.load(artifacts_copy)
    (artifacts_copy / "manifest.json").write_text(json.dumps({"format_version": 1, "models": {}}))
    with pytest.raises(ManifestError, match="malformed"):
        Pipeline.load(artifacts_copy)


def test_policy_defaults_come_from_the_manifest_and_can_be_overridden(shipped_artifacts):
    manifest = json.loads((shipped_artifacts / "manifest.json").read_text())
    assert Pipeline.load(shipped_artifacts).policy == Policy(**manifest["policy"])
    pipeline = Pipeline.load(shipped_artifacts, policy={"classifier": "baseline", "purify_flagged": False})
    assert pipeline.policy.classifier == "baseline" and not pipeline.policy.purify_flagged
    assert pipeline.policy.flagged_classifier == manifest["policy"]["flagged_classifier"]
    assert "purifier" not in pipeline.models  # only the models the policy needs are loaded
    with pytest.raises(InvalidInputError, match="not a classifier"):
        Pipeline.load(shipped_artifacts, policy={"classifier": "detector"})
    with pytest.raises(InvalidInputError, match="unknown policy"):
        Pipeline.load(shipped_artifacts, policy={"clasifier": "baseline"})


def test_flagged_inputs_are_purified_or_rejected(shipped_artifacts):
    samples = np.load(shipped_artifacts / "samples" / "demo.npz")
    strict = Pipeline.load(shipped_artifacts, policy=Policy(purify_flagged=True, reject_flagged=True))
    results = strict.predict(np.concatenate([samples["clean"], samples["adversarial"]]))
    flagged = [r for r in results if r.flagged]
    assert flagged, "the detector flags none of the PGD samples"
    assert all(r.label is None and r.purified for r in flagged)
    assert all(r.label is not None and not r.purified for r in results if not r.flagged)


def test_cuda_without_provider_falls_back_with_one_warning(shipped_artifacts, monkeypatch):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipeline = Pipeline.load(shipped_artifacts, device="cuda")
    assert len(caught) == 1 and "CUDAExecutionProvider" in str(caught[0].message)
    assert all(m.session.get_providers() == ["CPUExecutionProvider"] for m in pipeline.models.values())
    with pytest.raises(InvalidInputError, match="device"):
        Pipeline.load(shipped_artifacts, device="tpu")


def test_shipped_pipeline_reads_mnist_as_its_manifest_records(shipped_artifacts, mnist_test_set):
    """The whole MNIST test set through Pipeline.predict: the clean accuracy and flag rate the evaluation recorded."""
    images, labels = mnist_test_set
    results = Pipeline.load(shipped_artifacts).predict(images)
    recorded = json.loads((shipped_artifacts / "manifest.json").read_text())["evaluation"]["clean"]
    assert np.mean([r.label == y for r, y in zip(results, labels)]) == pytest.approx(recorded["pipeline"], abs=1e-4)
    assert np.mean([r.flagged for r in results]) == pytest.approx(recorded["pipeline_flagged"], abs=1e-4)


def test_runtime_never_imports_torch():
    """pip users get no torch: importing every runtime module, each CLI verb included, must not pull it
    (or train/export) in."""
    code = ("import pkgutil, sys, digitguard.runtime as r\n"
            "names = [m.name for m in pkgutil.walk_packages(r.__path__, 'digitguard.runtime.')]\n"
            "[__import__(name) for name in names]\n"
            "assert {'digitguard.runtime.cli', 'digitguard.runtime.video', 'digitguard.runtime.commands.bench'} "
            "<= set(names), names\n"
            "bad = [m for m in sys.modules\n"
            "       if m == 'torch' or m.startswith(('digitguard.train', 'digitguard.export'))]\n"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
