"""The evaluation's counting rules on toy cases with known answers, and the whole report on quick models."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from digitguard.runtime import Policy
from digitguard.train.evaluate.metrics import attack_succeeded, pipeline_row, roc, tpr_at
from digitguard.train.evaluate.report import markdown, table
from digitguard.train.evaluate.threat import Defended, evade_loss


def test_success_needs_wrong_label_and_no_flag():
    truth = np.array([1, 1, 1, 1, 1])
    labels = np.array([1, 2, 2, -1, 1])  # right, wrong, wrong, rejected, right
    flagged = np.array([False, True, False, False, True])
    assert attack_succeeded(labels, flagged, truth).tolist() == [False, False, True, True, False]


def test_pipeline_row_counts_flagged_wrong_answers_as_defended():
    truth = np.array([1, 1, 1, 1])
    row = pipeline_row(np.array([1, 2, 2, 2]), np.array([False, True, False, True]), truth, attack="toy")
    assert row == {"attack": "toy", "n": 4, "accuracy": 0.25, "robust": 0.75, "flagged": 0.5}


def test_roc_known_answers():
    assert roc(np.array([0.1, 0.2]), np.array([0.8, 0.9]))[2] == pytest.approx(1.0)
    assert roc(np.array([0.5, 0.5]), np.array([0.5, 0.5]))[2] == pytest.approx(0.5)
    assert roc(np.array([0.9, 0.8]), np.array([0.1, 0.2]))[2] == pytest.approx(0.0)
    clean = np.linspace(0, 1, 101)
    assert tpr_at(clean, np.array([0.995, 0.5]), 0.01) == 0.5


class Brightness(nn.Module):
    """Toy detector: 'adversarial' logit grows with mean brightness (margin 0 at brightness 0.5)."""

    def forward(self, x):
        m = x.mean((1, 2, 3))
        return torch.stack([torch.zeros_like(m), 20 * (m - 0.5)], 1)


class Darken(nn.Module):
    def forward(self, x):
        return x * 0.1


class MeanClassifier(nn.Module):
    """Toy classifier: class 0 logit is the mean brightness, the others zero."""

    def forward(self, x):
        m = x.mean((1, 2, 3))
        return torch.stack([m] + [torch.zeros_like(m)] * 9, 1)


def toy_models():
    return {"detector": Brightness(), "purifier": Darken(), "baseline": MeanClassifier(), "mitigation": MeanClassifier()}


def test_defended_follows_the_policy():
    x = torch.stack([torch.full((1, 28, 28), 0.2), torch.full((1, 28, 28), 0.9)])
    out = Defended(toy_models(), Policy(purify_flagged=True), threshold=0.5)(x)
    assert out[:, 10].tolist() == pytest.approx([20 * (0.2 - 0.5), 20 * (0.9 - 0.5)])  # margin over the threshold
    assert out[:, 0].tolist() == pytest.approx([0.2, 0.09])  # the flagged image was purified before classifying
    unpurified = Defended(toy_models(), Policy(purify_flagged=False), threshold=0.5)(x)
    assert unpurified[1, 0].item() == pytest.approx(0.9)


def test_bpda_keeps_the_forward_pass_and_passes_gradients_straight_through():
    x = torch.full((1, 1, 28, 28), 0.9, requires_grad=True)
    real = Defended(toy_models(), Policy(purify_flagged=True), threshold=0.5)
    bpda = Defended(toy_models(), Policy(purify_flagged=True), threshold=0.5, bpda=True)
    assert torch.allclose(real(x), bpda(x))
    (g_real,) = torch.autograd.grad(real(x)[:, 0].sum(), x)
    (g_bpda,) = torch.autograd.grad(bpda(x)[:, 0].sum(), x)
    assert torch.allclose(g_bpda, g_real / 0.1)  # identity instead of the purifier's ×0.1


def test_evade_loss_prefers_unflagged():
    outputs = torch.tensor([[0.0] * 10 + [2.0], [0.0] * 10 + [-3.0]])
    labels = torch.tensor([0, 0])
    loss = evade_loss(outputs, labels)
    assert loss[1] > loss[0]


def test_table_helper_writes_one_markdown_table():
    assert table(["model", "accuracy"], [("baseline", "99.00 %"), ("pipeline", 0)]) == [
        "| model | accuracy |", "|---|---|", "| baseline | 99.00 % |", "| pipeline | 0 |"]


def test_markdown_reproduces_the_shipped_report(shipped_artifacts):
    """REPORT.md is a pure function of report.json: the shipped pair must still match, table for table."""
    for folder in (shipped_artifacts / "report", shipped_artifacts / "report" / "purify_on"):
        report = json.loads((folder / "report.json").read_text())
        assert markdown(report) == (folder / "REPORT.md").read_text(), folder


@pytest.mark.slow
def test_report_end_to_end_on_quick_models(quick_checkpoints, quick_artifacts, tmp_path):
    artifacts = tmp_path / "artifacts"
    shutil.copytree(quick_artifacts, artifacts)
    exported = json.loads((artifacts / "manifest.json").read_text())
    subprocess.run([sys.executable, "-m", "digitguard.train.evaluate", "--artifacts", str(artifacts),
                    "--checkpoints", str(quick_checkpoints), "-n", "20", "--n-clean", "300", "--n-autoattack", "10",
                    "--n-policy", "10", "--epsilons", "0.3", "--n-photo", "60", "--camera-frames", "30",
                    "--n-numbers", "20", "--n-writers", "40"], check=True)
    report = json.loads((artifacts / "report" / "report.json").read_text())
    for section in ("clean", "sweep", "autoattack", "adaptive", "detection", "purification", "policies", "photo_path",
                    "camera_path", "number_path", "writers_path"):
        assert report[section], section
    assert {r["model"] for r in report["sweep"]} == {"baseline", "mitigation", "pipeline"}
    for row in report["sweep"] + report["adaptive"]:
        assert 0 <= row["robust"] <= 1 and row["n"] == 20
        if row.get("model", "pipeline") == "pipeline":
            assert row["robust"] >= row["accuracy"]  # a flagged wrong answer is a defended one, never the reverse
    worst = report["adaptive"][-1]
    assert worst["robust"] <= min(r["robust"] for r in report["adaptive"][:-1])
    for png in ("accuracy_vs_eps.png", "roc.png", "purification_grid.png"):
        assert (artifacts / "report" / png).stat().st_size > 1000
    markdown_text = (artifacts / "report" / "REPORT.md").read_text()
    assert "AutoAttack" in markdown_text and "The paths users take" in markdown_text
    photo, camera, readers = report["photo_path"], report["camera_path"], {"baseline", "mitigation", "pipeline"}
    assert photo["n"] == 60 and set(photo["accuracy"]) == readers and 0 <= photo["refused"] < 0.1
    assert photo["accuracy"]["baseline"] > 0.7  # held-out photos through the runtime: read, not garbled
    assert camera["frames"] == 30 and set(camera["frames_exact"]) == set(camera["digit_accuracy"]) == readers
    assert camera["frames_exact"]["baseline"] > 0.5
    numbers = report["number_path"]
    assert numbers["n"] == 20 and set(numbers["exact"]) == readers and numbers["located"] > 0.5
    writers = report["writers_path"]
    assert writers["n"] == 40 and set(writers["accuracy"]) == readers
    assert writers["accuracy"]["baseline"] > 0.5  # real handwriting of other writers, read as upscaled scans
    for name in readers:  # a number read exactly has every digit located
        assert camera["frames_exact"][name] <= camera["count_right"]
        assert numbers["exact"][name] <= numbers["located"]
    manifest = json.loads((artifacts / "manifest.json").read_text())
    evaluation = manifest.pop("evaluation")
    assert evaluation["n_attack"] == 20 and set(evaluation["false_alarms"]) == {"mnist", "photo", "camera", "numbers",
                                                                                 "writers"}
    assert evaluation["number_path"]["exact"] == numbers["exact"]
    assert evaluation["photo_path"]["accuracy"] == photo["accuracy"]
    assert evaluation["writers_path"]["accuracy"] == writers["accuracy"]
    assert evaluation["camera_path"]["frames_exact"] == camera["frames_exact"]
    # a row per model and implementation; the headline states each model's lower figure
    assert {(r["model"], r["implementation"]) for r in report["autoattack"]} == {
        (m, i) for m in ("baseline", "mitigation") for i in ("torchattacks", "pyautoattack")}
    assert "| mitigation | pyautoattack | 10 |" in markdown_text
    assert evaluation["autoattack_eps0.3"]["mitigation"]["accuracy"] == min(
        r["accuracy"] for r in report["autoattack"] if r["model"] == "mitigation")
    assert manifest == exported  # the evaluation adds its section and touches nothing else


@pytest.mark.slow
def test_checkpoints_that_do_not_match_are_refused(quick_artifacts, tmp_path):
    r = subprocess.run([sys.executable, "-m", "digitguard.train.evaluate", "--artifacts", str(quick_artifacts),
                        "--checkpoints", str(tmp_path), "-n", "10"], capture_output=True, text=True)
    assert r.returncode != 0 and "checkpoint" in r.stderr
