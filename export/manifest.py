"""manifest.json: what the runtime reads to find, verify (sha256) and describe every exported file."""
import hashlib
import json
import os

from digitguard.runtime.contract import CONTRACT

from .onnx_export import check, signature

FORMAT_VERSION = 1


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def entry(path, training, metrics, parity):
    """One model's record; opset and I/O shapes are read back from the checked file, not assumed."""
    opset, inputs, outputs = signature(check(path))
    return {"file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size, "opset": opset,
            "inputs": inputs, "outputs": outputs, "training": training, "metrics": metrics, "parity": parity}


def manifest(policy, models, detector_metrics):
    return {"format_version": FORMAT_VERSION, "contract": CONTRACT, "policy": policy, "models": models,
            "detector": {"threshold": detector_metrics["threshold"],
                         "val_clean_fpr": detector_metrics["val_clean_fpr"]}}


def publish(staging, out, content):
    """Move the checked files from `staging` into `out`, manifest last.

    The old manifest goes first, so a reader never sees a manifest whose files are half replaced.
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        dest = out / path.relative_to(staging)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
    staged = staging / "manifest.json"
    staged.write_text(json.dumps(content, indent=2) + "\n")
    os.replace(staged, out / "manifest.json")
