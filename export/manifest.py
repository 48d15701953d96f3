"""manifest.json: what the runtime reads to find, verify (sha256) and describe every exported file.

This module is its only writer: the export publishes it, the evaluation adds its headline figures through it.
"""
import json
import os
from pathlib import Path

from digitguard.runtime.contract import CONTRACT
from digitguard.runtime.manifest import FORMAT_VERSION, sha256

from .onnx_export import check, signature

MANIFEST = "manifest.json"


def model_entry(path, **fields):
    """One model's record; opset and I/O shapes are read back from the checked file, not assumed.

    `fields` (training, metrics, parity, ...) follow the file facts in the order given.
    """
    opset, inputs, outputs = signature(check(path))
    return {"file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size, "opset": opset,
            "inputs": inputs, "outputs": outputs, **fields}


def manifest_content(policy, models, detector_metrics):
    return {"format_version": FORMAT_VERSION, "contract": CONTRACT, "policy": policy, "models": models,
            "detector": {"threshold": detector_metrics["threshold"],
                         "val_clean_fpr": detector_metrics["val_clean_fpr"]}}


def _write(folder, content):
    """manifest.json replaced in one step: a reader sees the old file or the new one, never half of one."""
    staged = folder / f".{MANIFEST}.partial"
    staged.write_text(json.dumps(content, indent=2) + "\n")
    os.replace(staged, folder / MANIFEST)


def publish(staging, out, content):
    """Move the checked files from `staging` into `out`, manifest last.

    The old manifest goes first, so a reader never sees a manifest whose files are half replaced. Model files the
    old manifest listed and the new one does not (a model no longer exported) go too; nothing else in `out` is
    touched (checkpoints and reports may live there).
    """
    out.mkdir(parents=True, exist_ok=True)
    stale = _model_files(out) - {entry["file"] for entry in content["models"].values()}
    (out / MANIFEST).unlink(missing_ok=True)
    for name in stale:
        (out / name).unlink(missing_ok=True)
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        dest = out / path.relative_to(staging)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
    _write(out, content)


def _model_files(folder) -> set:
    """The files of `folder` that an existing manifest there lists by plain name (none when it is missing or
    unreadable): a name with a folder in it, even one ending like a file here, is not ours to remove."""
    try:
        models = json.loads((folder / MANIFEST).read_text())["models"]
        listed = {entry["file"] for entry in models.values()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return set()
    return {name for name in listed if isinstance(name, str) and Path(name).name == name} & {
        p.name for p in folder.iterdir() if p.is_file()}


def set_section(folder, section, value):
    """Add or replace one top-level section of an existing manifest.json in `folder` (e.g. "evaluation")."""
    content = json.loads((folder / MANIFEST).read_text())
    content[section] = value
    _write(folder, content)


def add_model(folder, name, entry):
    """Add or replace one model's entry (its file already in `folder`), leaving every other entry as it is."""
    content = json.loads((folder / MANIFEST).read_text())
    content["models"][name] = entry
    _write(folder, content)
