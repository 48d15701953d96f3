"""The mitigation recipe's levers (architectures, activation, EMA, schedules), the compare tool's candidates,
and AutoAttack from both implementations, on the full set chunk by chunk."""
import json
import subprocess
import sys
from argparse import Namespace

import pytest
import torch
from torch import nn

from digitguard.runtime.contract import EPS
from digitguard.train import checkpoint
from digitguard.train.attacks import AUTOATTACKS
from digitguard.train.augment import AUGMENTATION
from digitguard.train.compare import CANDIDATES, train_options
from digitguard.train.models import StridedCNN, TradesCNN, build
from digitguard.train.train import PROFILES, ema_update, fit, mitigation_recipe, parse_args
from tests.helpers import SHIPPED


def layers(model, kind):
    return [m for m in model.modules() if isinstance(m, kind)]


def test_trades_cnn_is_the_papers_mnist_model():
    model = build("mitigation", "trades-cnn")
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert [c.out_channels for c in layers(model, nn.Conv2d)] == [32, 32, 64, 64]
    assert {c.kernel_size for c in layers(model, nn.Conv2d)} == {(3, 3)}
    assert len(layers(model, nn.MaxPool2d)) == 2
    assert [f.out_features for f in layers(model, nn.Linear)] == [200, 200, 10]


@pytest.mark.parametrize("hidden, activation", [(100, "relu"), (200, "relu"), (200, "silu")])
def test_strided_cnn_fc_size_and_activation(hidden, activation):
    model = build("mitigation", "cnn", 32, hidden, activation)
    assert isinstance(model, StridedCNN) and model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert [f.out_features for f in layers(model, nn.Linear)] == [hidden, 10]
    assert len(layers(model, nn.SiLU if activation == "silu" else nn.ReLU)) == 3


def test_hidden_zero_means_the_architectures_own():
    assert [f.out_features for f in layers(build("mitigation", "cnn"), nn.Linear)] == [100, 10]
    assert isinstance(build("mitigation", "trades-cnn", 16, 0, "silu"), TradesCNN)


def test_ema_update_arithmetic():
    average, model = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    with torch.no_grad():
        average.weight.fill_(1.0)
        model.weight.fill_(3.0)
    model.num_batches_tracked.fill_(7)
    ema_update(average, model, decay=0.75)
    assert torch.allclose(average.weight, torch.full((2,), 0.75 * 1 + 0.25 * 3))
    assert torch.equal(model.weight, torch.full((2,), 3.0))  # the trained model is left alone
    assert int(average.num_batches_tracked) == 7  # integer buffers are copied, not averaged


def _fit_tiny(tmp_path, ema):
    torch.manual_seed(0)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    model = build("mitigation", "cnn", 4, 8)
    trained = []

    def step(m, xb, yb, progress):
        trained.append(m)
        return nn.functional.cross_entropy(m(xb), yb), 0

    tmp_path.mkdir()
    args = Namespace(device="cpu", out=str(tmp_path), resume=False)
    return fit("mitigation", model, x, y, step, 2, 1e-2, args, ema=ema), trained[0]


def test_fit_with_ema_returns_the_average_not_the_trained_weights(tmp_path):
    kept, trained = _fit_tiny(tmp_path / "ema", ema=0.9)
    assert kept is not trained and type(kept) is type(trained)
    assert not torch.equal(kept.net[0].weight, trained.net[0].weight)
    plain, plain_trained = _fit_tiny(tmp_path / "plain", ema=0.0)
    assert plain is plain_trained
    assert torch.equal(plain.net[0].weight, trained.net[0].weight)  # the EMA does not change the training itself
    progress = torch.load(tmp_path / "ema" / "mitigation.progress.pt", weights_only=True)
    assert set(progress["average"]) == set(kept.state_dict())  # --resume gets the average back too


def test_checkpoint_rebuilds_fc_size_and_activation(tmp_path):
    model = build("mitigation", "cnn", 8, 200, "silu").eval()
    checkpoint.save(tmp_path, "mitigation", model, {"arch": "cnn", "width": 8, "hidden": 200, "activation": "silu"}, {})
    loaded, _ = checkpoint.load(tmp_path, "mitigation")
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(loaded(x), model(x))


def test_the_committed_mitigation_checkpoint_is_the_full_profiles_recipe():
    """The shipped model is what `train all --profile full` makes: its recorded recipe is the profile's today."""
    config = json.loads((SHIPPED / "checkpoints" / "mitigation.json").read_text())["config"]
    recipe = mitigation_recipe(PROFILES["full"], parse_args(["mitigation"]))
    recipe["augment"] = AUGMENTATION if recipe["augment"] else "none"  # the checkpoint records what the warps were
    assert {key: config[key] for key in recipe} == recipe and config["profile"] == "full" and config["seed"] == 0


def test_recipe_defaults_come_from_the_profile_and_options_override():
    full = PROFILES["full"]
    recipe = mitigation_recipe(full, parse_args(["mitigation"]))
    assert (recipe["arch"], recipe["hidden"], recipe["activation"], recipe["ema"], recipe["beta"]) == (
        full.mitigation_arch, full.mitigation_hidden, full.mitigation_activation, full.mitigation_ema, full.mitigation_beta)
    given = mitigation_recipe(full, parse_args(["mitigation", *train_options(
        "arch=trades-cnn,hidden=64,activation=silu,ema=0.99,beta=8,late-steps=20,beta-ramp,epochs=3")]))
    assert given["arch"] == "trades-cnn" and given["width"] == 0 and given["hidden"] == 64
    assert given["activation"] == "silu" and given["ema"] == 0.99 and given["beta"] == 8.0
    assert given["late_steps"] == 20 and given["beta_ramp"] and given["epochs"] == 3
    assert recipe["augment"] is full.mitigation_augment
    assert mitigation_recipe(full, parse_args(["mitigation", "--no-augment"]))["augment"] is False


def test_compare_candidate_is_train_options():
    assert train_options("arch=cnn, hidden=200,beta-ramp") == ["--arch", "cnn", "--hidden", "200", "--beta-ramp"]
    with pytest.raises(SystemExit):  # a key train does not know is refused by train's own parser
        parse_args(["mitigation", *train_options("widht=3")])
    for candidate in CANDIDATES:  # the default search parses
        assert mitigation_recipe(PROFILES["full"], parse_args(["mitigation", *train_options(candidate)]))


@pytest.mark.slow
@pytest.mark.parametrize("implementation", sorted(AUTOATTACKS))
def test_both_autoattacks_stay_in_the_ball(implementation):
    torch.manual_seed(0)
    model = build("mitigation", "cnn", 4, 8).eval()
    x, y = torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,))
    adv = AUTOATTACKS[implementation](model, 0)(x, y)
    assert adv.shape == x.shape and float((adv - x).abs().max()) <= EPS + 1e-6
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1
    assert (model(adv).argmax(1) == y).float().mean() <= (model(x).argmax(1) == y).float().mean()


def _autoattack_all(quick_checkpoints, quick_artifacts, progress, *extra):
    return subprocess.run([sys.executable, "-m", "digitguard.train.evaluate.autoattack_all", "--artifacts",
                           str(quick_artifacts), "--checkpoints", str(quick_checkpoints), "--progress", str(progress),
                           "-n", "20", "--chunk", "10", *extra], capture_output=True, text=True)


def test_autoattack_over_the_set_is_chunked_and_resumes(quick_checkpoints, quick_artifacts, tmp_path):
    progress = tmp_path / "aa.json"
    first = _autoattack_all(quick_checkpoints, quick_artifacts, progress)
    assert first.returncode == 0, first.stderr
    done = json.loads(progress.read_text())
    assert done["complete"] and done["attacked"] == 20 and [c["start"] for c in done["chunks"]] == [0, 10]
    assert done["accuracy"] == sum(c["correct"] for c in done["chunks"]) / 20
    progress.write_text(json.dumps({**done, "chunks": done["chunks"][:1], "complete": False}))  # as if interrupted
    again = _autoattack_all(quick_checkpoints, quick_artifacts, progress)
    assert again.returncode == 0 and "10/20" not in again.stdout and "20/20" in again.stdout  # only the rest ran
    assert json.loads(progress.read_text())["chunks"] == done["chunks"]  # same seed, same chunk, same answer
    other = _autoattack_all(quick_checkpoints, quick_artifacts, progress, "--seed", "1")
    assert other.returncode != 0 and "seed" in other.stderr
    progress.write_text(json.dumps({**done, "sha256": "0" * 64}))  # chunks of other weights: a retrained model
    retrained = _autoattack_all(quick_checkpoints, quick_artifacts, progress)
    assert retrained.returncode != 0 and "sha256" in retrained.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
@pytest.mark.parametrize("command", [["digitguard.train", "all", "--out"],
                                     ["digitguard.train.evaluate.autoattack_all", "--progress"]])
def test_device_cuda_without_a_gpu_is_one_clear_error(command, tmp_path):
    r = subprocess.run([sys.executable, "-m", *command, str(tmp_path / "out"), "--device", "cuda"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "no CUDA device" in r.stderr, r.stderr


@pytest.mark.parametrize("module", ["digitguard.train", "digitguard.train.compare"])
def test_help_renders(module):
    r = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--" in r.stdout, r.stderr


@pytest.mark.slow
def test_compare_measures_an_ema_candidate_and_its_trained_weights(tmp_path):
    from tests.helpers import mnist

    r = subprocess.run([sys.executable, "-m", "digitguard.train.compare", "--profile", "quick", "--epochs", "1",
                        "--n", "20", "--n-autoattack", "5", "--autoattack-top", "1", "--out", str(tmp_path),
                        "--data-dir", str(mnist.require_mnist()), "--candidates", "arch=cnn,hidden=16,ema=0.9"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads((tmp_path / "compare.json").read_text())["rows"]
    assert [row["candidate"] for row in rows] == ["arch=cnn,hidden=16,ema=0.9",
                                                  "arch=cnn,hidden=16,ema=0.9 (weights without EMA)"]
    assert rows[0]["ema"] == 0.9 and rows[1]["ema"] == 0.0 and rows[0]["hidden"] == rows[1]["hidden"] == 16
    assert sum("val_autoattack" in row for row in rows) == 1  # only the best faced AutoAttack
    assert all(0 <= row[key] <= 1 for row in rows for key in ("val_clean", "val_pgd40", "val_apgd_ce"))
