"""The flag (#13, train/flag.py): one score everywhere (torch, detector.onnx, screen.onnx, INT8), its threshold
flags the share of the validation mix it was set for, and the selective attack can aim at it."""
import json
import math

import numpy as np
import pytest
import torch

from digitguard.export.onnx_export import FusedScreen, export
from digitguard.runtime.contract import ADVERSARIAL_INDEX, EPS
from digitguard.runtime.sessions import Detector, Screen, providers_for
from digitguard.train import checkpoint, flag
from digitguard.train.attacks import Selective
from digitguard.train.data import load_splits
from digitguard.train.photos import CACHE_FOLDER
from digitguard.train.train import PROFILES
from digitguard.train.evaluate.threat import Defended
from digitguard.train.models import build
from digitguard.runtime import Policy


def score_of(module, images):
    with torch.no_grad():
        return module(torch.from_numpy(images)).softmax(1)[:, ADVERSARIAL_INDEX].numpy()


@pytest.fixture(scope="module")
def random_flag():
    torch.manual_seed(0)
    return flag.Flag(build("detector"), build("mitigation", "cnn", 16), flag.Combination(2.0, 3.0)).eval()


def test_the_score_is_sigmoid_of_detector_logit_minus_weighted_margin(random_flag):
    images = torch.rand(9, 1, 28, 28)
    with torch.no_grad():
        detector_logits, class_logits = random_flag.detector(images), random_flag.classifier(images)
        score = random_flag(images).softmax(1)[:, ADVERSARIAL_INDEX]
    top = class_logits.sort(1, descending=True).values
    z = (detector_logits[:, ADVERSARIAL_INDEX] - detector_logits[:, 1 - ADVERSARIAL_INDEX]
         - 2.0 * (top[:, 0] - top[:, 1]) + 3.0)
    torch.testing.assert_close(score, torch.sigmoid(z))


def test_fused_screen_scores_as_the_flag_alone(random_flag, tmp_path):
    """screen.onnx runs the classifier once for both outputs and still gives detector.onnx's score."""
    images = np.random.default_rng(0).random((13, 1, 28, 28), dtype=np.float32)
    export(random_flag, tmp_path / "detector.onnx", "detector")
    export(FusedScreen(random_flag, random_flag.classifier), tmp_path / "screen.onnx", "screen")
    providers = providers_for("cpu")
    fused_score, probs = Screen(tmp_path / "screen.onnx", providers).score_and_probs(images)
    alone = Detector(tmp_path / "detector.onnx", providers).score(images)
    np.testing.assert_allclose(fused_score, alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused_score, score_of(random_flag, images), rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        expected = random_flag.classifier(torch.from_numpy(images)).softmax(1).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)


def test_a_zero_weight_flag_is_the_detector_alone_and_its_graph_leaves_the_classifier_out(tmp_path):
    """Weight 0 (the detector alone won on validation): the classifier adds nothing to z, so detector.onnx must
    not run it; screen.onnx still gives the classifier's probabilities and the same score."""
    torch.manual_seed(0)
    detector, classifier = build("detector"), build("mitigation", "cnn", 16)
    zero = flag.Flag(detector, classifier, flag.Combination(0.0, 3.0)).eval()
    images = np.random.default_rng(1).random((7, 1, 28, 28), dtype=np.float32)
    with torch.no_grad():
        expected = torch.sigmoid(flag.detector_logit(detector(torch.from_numpy(images))) + 3.0).numpy()
    np.testing.assert_allclose(score_of(zero, images), expected, rtol=1e-5, atol=1e-7)
    model = export(zero, tmp_path / "detector.onnx", "detector")
    stored = sum(int(np.prod(i.dims)) for i in model.graph.initializer)
    assert stored < sum(p.numel() for p in detector.parameters()) + 10  # the detector's weights and a few constants
    export(FusedScreen(zero, classifier), tmp_path / "screen.onnx", "screen")
    fused_score, probs = Screen(tmp_path / "screen.onnx", providers_for("cpu")).score_and_probs(images)
    np.testing.assert_allclose(fused_score, expected, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(probs, classifier(torch.from_numpy(images)).softmax(1).numpy(), rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def quick_flag(quick_checkpoints):
    detector, _ = checkpoint.load(quick_checkpoints, "detector")
    classifier, _ = checkpoint.load(quick_checkpoints, flag.CLASSIFIER)
    return flag.load(quick_checkpoints, detector, classifier)


@pytest.fixture(scope="module")
def sample_images(quick_artifacts, mnist_test_set):
    demo = np.load(quick_artifacts / "samples" / "demo.npz")
    digits = (mnist_test_set[0][:200, None] / 255).astype(np.float32)
    return np.concatenate([demo["clean"], demo["adversarial"], digits])


@pytest.mark.slow
def test_every_path_computes_the_same_score(quick_flag, quick_artifacts, sample_images):
    module, _ = quick_flag
    manifest = json.loads((quick_artifacts / "manifest.json").read_text())
    providers = providers_for("cpu")
    reference = score_of(module, sample_images)
    alone = Detector(quick_artifacts / "detector.onnx", providers).score(sample_images)
    fused, _ = Screen(quick_artifacts / "screen.onnx", providers).score_and_probs(sample_images)
    np.testing.assert_allclose(alone, reference, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fused, alone, rtol=1e-5, atol=1e-6)
    assert manifest["detector"]["threshold"] == flag.THRESHOLD
    assert not (quick_artifacts / "detector.int8.onnx").exists()  # no INT8 copy computes another score


@pytest.mark.slow
def test_threshold_flags_the_target_share_of_each_validation_path(quick_flag, quick_checkpoints):
    module, info = quick_flag
    quick = PROFILES["quick"]
    data = load_splits(None, quick.train_size, quick.test_size, photo_val=quick.photo_val,
                       cache_dir=quick_checkpoints / CACHE_FOLDER)
    (val_x, _), is_photo = data["val"], data["is_photo"]["val"].numpy()
    assert len(val_x) == info["config"]["val_images"] and is_photo.sum() == info["config"]["val_photo_images"]
    flagged = score_of(module, val_x.numpy()) >= info["metrics"]["threshold"]
    shares = [flagged[~is_photo].mean(), flagged[is_photo].mean()]
    assert shares == pytest.approx([info["metrics"]["val_clean_fpr_mnist"], info["metrics"]["val_clean_fpr_photo"]])
    # the offset is the higher path's quantile: that path flags FLAG_FPR, the other no more
    assert max(shares) == pytest.approx(flag.FLAG_FPR, abs=2 / min(is_photo.sum(), (~is_photo).sum()))
    assert min(shares) <= flag.FLAG_FPR + 1e-9


@pytest.mark.slow
def test_selective_attack_aims_at_the_shipped_flag(quick_flag, mnist_test_set):
    """evaluate.Defended's detector margin IS the flag's logit, and the selective attack on it runs in the ε-ball."""
    module, info = quick_flag
    models = {"detector": module, "purifier": None, "mitigation": module.classifier}
    defended = Defended(models, Policy("mitigation", "mitigation", False, False), info["metrics"]["threshold"])
    images = torch.from_numpy((mnist_test_set[0][:16, None] / 255).astype(np.float32))
    labels = torch.from_numpy(mnist_test_set[1][:16].astype(np.int64))
    with torch.no_grad():
        out = defended(images)
        torch.testing.assert_close(out[:, :10], module.classifier(images))
        torch.testing.assert_close(out[:, 10], module.combination(module.detector(images), module.classifier(images)))
    torch.manual_seed(0)
    adv = Selective(defended, EPS, steps=10, restarts=1)(images, labels)
    assert (adv - images).abs().max() <= EPS + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert math.isclose(info["metrics"]["threshold"], 0.5)
