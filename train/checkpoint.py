"""Checkpoints are safetensors state_dicts beside a JSON of config and metrics: never pickled models."""
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .models import build


def paths(out_dir, name):
    out = Path(out_dir)
    return out / f"{name}.safetensors", out / f"{name}.json"


def save(out_dir, name, model, config, metrics):
    weights, info = paths(out_dir, name)
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(weights))
    info.write_text(json.dumps({"name": name, "config": config, "metrics": metrics}, indent=2) + "\n")


def exists(out_dir, name):
    return all(p.is_file() for p in paths(out_dir, name))


def load(out_dir, name, device="cpu"):
    """(model in eval mode, info dict) for a saved checkpoint."""
    weights, info_path = paths(out_dir, name)
    if not weights.is_file() or not info_path.is_file():
        raise FileNotFoundError(f"no {name} checkpoint in {out_dir}: run `python -m digitguard.train {name}` first")
    info = json.loads(info_path.read_text())
    cfg = info["config"]
    model = build(name, cfg.get("arch", ""), cfg.get("width", 0), cfg.get("hidden", 0), cfg.get("activation", "relu"))
    model.load_state_dict(load_file(str(weights)))
    return model.to(device).eval(), info


def save_progress(out_dir, name, epoch, model, optimizer, scheduler, average=None):
    """Mid-training state for --resume (with the weights' moving average, if one is kept): only tensors and
    plain values, so it loads with weights_only=True."""
    torch.save(
        {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
         "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
         **({"average": average.state_dict()} if average is not None else {})},
        Path(out_dir) / f"{name}.progress.pt",
    )


def load_progress(out_dir, name):
    path = Path(out_dir) / f"{name}.progress.pt"
    return torch.load(path, weights_only=True) if path.is_file() else None


def clear_progress(out_dir, name):
    (Path(out_dir) / f"{name}.progress.pt").unlink(missing_ok=True)
