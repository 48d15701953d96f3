"""Training end to end on the quick profile, checkpoints without pickles, and data errors that say what to do."""
import gzip
import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from digitguard.runtime.contract import EPS, MODEL_NAMES
from digitguard.train import checkpoint, data
from digitguard.train.batched import chunks
from digitguard.train.attacks import PGD
from digitguard.train.flag import detector_logit
from digitguard.train.train import DETECTOR_FPR, PROFILES, evading_copies
from tests.helpers.mnist import require_mnist

OUTPUT_SHAPES = {"baseline": (2, 10), "detector": (2, 2), "purifier": (2, 1, 28, 28), "mitigation": (2, 10)}


def test_chunks_cover_every_item_once_in_order():
    items = torch.arange(10)
    assert [c.tolist() for c in chunks(items, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert chunks(items[:0], 4) == []


@pytest.mark.slow
def test_quick_run_writes_loadable_checkpoints(quick_checkpoints):
    quick = PROFILES["quick"]
    infos = {}
    for name in MODEL_NAMES:
        model, infos[name] = checkpoint.load(quick_checkpoints, name)
        config = infos[name]["config"]
        assert config["profile"] == "quick"
        assert config["train_images"] == quick.train_size + config["photo_train_images"]
        # every model trained on the mix: MNIST and photo-path digits (renders to_mnist refused are dropped)
        assert 0 < config["photo_train_images"] == quick.photo_train - config["photos_refused"]["train"]
        with torch.no_grad():
            out = model(torch.rand(2, 1, 28, 28))
        assert tuple(out.shape) == OUTPUT_SHAPES[name], name
        assert load_file(str(quick_checkpoints / f"{name}.safetensors"))  # plain tensors, no pickle
    assert not list(quick_checkpoints.glob("*.progress.pt")), "finished runs leave no resume state behind"
    baseline, detector, purifier, mitigation = (infos[name]["metrics"] for name in MODEL_NAMES)
    # a few thousand images and epochs already read most digits: far above chance (10 %)
    assert baseline["test_clean_accuracy"] > 0.9 and mitigation["test_clean_accuracy"] > 0.5
    assert baseline["test_photo_accuracy"] > 0.85  # held-out looks, never trained on
    assert infos["baseline"]["config"]["epochs"] == quick.baseline_epochs
    mitigation_config = infos["mitigation"]["config"]
    assert mitigation_config["eps"] == EPS and mitigation_config["width"] == quick.mitigation_width
    # the threshold lets at most 1 % of each path's clean validation images through and catches most PGD-40 images
    assert 0 <= detector["val_clean_fpr"] <= 0.02 and detector["val_tpr_pgd40_eps0.3"] > 0.5
    assert max(detector["val_clean_fpr_mnist"], detector["val_clean_fpr_photo"]) <= 0.012  # 1 %, up to rounding
    assert 0 <= detector["test_photo_clean_fpr"] <= 1 and 0 <= detector["test_clean_fpr"] <= 1
    assert infos["detector"]["config"]["aware_attack"].startswith(f"selective, {quick.detector_aware_steps} steps")
    # the purifier brings attacked images closer to the clean ones than the attack left them
    assert purifier["test_mse_purified_pgd40"] < purifier["test_mse_attacked_pgd40"]
    assert (purifier["test_baseline_accuracy_purified_pgd40_eps0.3"]
            > purifier["test_baseline_accuracy_unpurified_pgd40_eps0.3"])


@pytest.mark.slow
def test_the_detector_trains_on_copies_that_slip_under_its_own_threshold(quick_checkpoints, mnist_test_set):
    """What the aware attack adds to the detector's attacked class: copies that fool the classifier AND score under
    the detector's threshold, more often than plain PGD on the classifier leaves them (what the pool alone teaches)."""
    detector, _ = checkpoint.load(quick_checkpoints, "detector")
    classifier, _ = checkpoint.load(quick_checkpoints, "mitigation")
    images, labels = mnist_test_set
    x, y = torch.tensor(images[:200]).float()[:, None] / 255, torch.tensor(labels[:200]).long()
    torch.manual_seed(0)
    copies = evading_copies(detector, classifier, x, y, steps=20)
    assert (copies - x).abs().max() <= EPS + 1e-6 and 0 <= copies.min() and copies.max() <= 1
    with torch.no_grad():
        threshold = torch.quantile(detector_logit(detector(x)), 1 - DETECTOR_FPR)

        def silently_wrong(adv):
            return int(((classifier(adv).argmax(1) != y) & (detector_logit(detector(adv)) < threshold)).sum())

    assert silently_wrong(copies) > silently_wrong(PGD(classifier, EPS, EPS / 4, 20)(x, y))


@pytest.mark.slow
def test_same_seed_same_metrics(tmp_path):
    folder = require_mnist()
    runs = []
    for out in (tmp_path / "a", tmp_path / "b"):
        subprocess.run([sys.executable, "-m", "digitguard.train", "baseline", "--profile", "quick", "--out", str(out),
                        "--seed", "3", "--data-dir", str(folder)], check=True, capture_output=True)
        runs.append(json.loads((out / "baseline.json").read_text())["metrics"])
    assert runs[0] == pytest.approx(runs[1], abs=1e-4)


@pytest.mark.slow
def test_resume_skips_finished_models(quick_checkpoints, tmp_path):
    out = tmp_path / "ck"
    out.mkdir()
    for suffix in (".safetensors", ".json"):
        (out / f"baseline{suffix}").write_bytes((quick_checkpoints / f"baseline{suffix}").read_bytes())
    r = subprocess.run([sys.executable, "-m", "digitguard.train", "baseline", "--profile", "quick", "--out", str(out),
                        "--resume"], capture_output=True, text=True, check=True)
    assert "skipped" in r.stdout


def test_missing_data_names_the_files(tmp_path):
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte.gz"):
        data.load_arrays(tmp_path, download=False)


def test_failed_download_says_where_to_put_files(tmp_path, monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte.gz.*DIGITGUARD_DATA"):
        data.load_arrays(tmp_path)


@pytest.mark.parametrize("content", [b"", b"not gzip at all", gzip.compress(b"\x00\x00\x08\x03short")])
def test_corrupt_file_is_a_clear_error(tmp_path, content):
    for stem in data.FILES.values():
        (tmp_path / f"{stem}.gz").write_bytes(content)
    with pytest.raises(data.DataError, match="not a valid MNIST idx file"):
        data.load_arrays(tmp_path)


def test_cli_reports_bad_data_without_traceback(tmp_path):
    for stem in data.FILES.values():
        (tmp_path / f"{stem}.gz").write_bytes(b"garbage")
    r = subprocess.run([sys.executable, "-m", "digitguard.train", "baseline", "--profile", "quick",
                        "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode != 0
    assert "error:" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_compare_trains_each_candidate_as_named(tmp_path, capsys):
    from digitguard.train import compare

    # one cheap candidate: the wiring, not the race
    compare.main(["--profile", "quick", "--epochs", "1", "--n", "20", "--out", str(tmp_path), "--autoattack-top", "0",
                  "--candidates", "arch=cnn,loss=mixed", "--data-dir", str(require_mnist())])
    rows = json.loads((tmp_path / "compare.json").read_text())["rows"]
    assert [(r["arch"], r["loss"], r["epochs"]) for r in rows] == [("cnn", "mixed", 1)]
    config = json.loads((tmp_path / "arch-cnn_loss-mixed" / "mitigation.json").read_text())["config"]
    assert (config["arch"], config["loss"], config["epochs"]) == ("cnn", "mixed", 1)
    assert all(0 <= rows[0][k] <= 1 for k in ("val_clean", "val_clean_photo", "val_pgd40", "val_apgd_ce"))
    assert "best by APGD-CE: arch=cnn,loss=mixed" in capsys.readouterr().out
