"""The artifacts folder: manifest.json, the sha256 check of every model file, the shipped default."""
from __future__ import annotations

import hashlib
import importlib.resources
import json
import re
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import ImageReadError, InvalidInputError, ManifestError, ModelError
from .files import read_regular_file

FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 10_000_000  # the shipped one has 20 KB; the cap keeps a hostile one from filling memory
_SHA256 = re.compile("[0-9a-f]{64}")
_short = reprlib.repr  # values quoted in errors: a hostile one can be megabytes long


def default_artifacts() -> Path:
    """The folder of the installed `digitguard.artifacts` package (the models pip install ships)."""
    try:
        folder = importlib.resources.files("digitguard.artifacts")
    except ModuleNotFoundError:
        raise ManifestError("the digitguard.artifacts package is not installed; pass an artifacts folder") from None
    if not isinstance(folder, Path):  # e.g. inside a zip: onnxruntime needs real files
        raise ManifestError(f"the shipped models are not in a folder ({folder}); pass an artifacts folder")
    return folder


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """manifest.json of one artifacts folder, as written by `python -m digitguard.export`."""

    folder: Path
    models: dict  # name -> {"file", "sha256", "bytes", ...}
    policy: dict  # the default Policy fields
    threshold: float  # detector: adversarial_score >= threshold -> flagged
    data: dict  # the whole file, for `digitguard info`

    @classmethod
    def load(cls, artifacts=None) -> Manifest:
        folder = Path(artifacts) if artifacts is not None else default_artifacts()
        path = folder / "manifest.json"
        if not path.exists():
            raise ManifestError(f"{path} not found: no exported models there "
                                "(export them with `python -m digitguard.export`, or pass --artifacts)")
        try:
            data = json.loads(read_regular_file(path, MAX_MANIFEST_BYTES, ManifestError))
        except (ValueError, RecursionError) as e:  # bad JSON or UTF-8 are ValueErrors; deep nesting recurses
            raise ManifestError(f"{path}: unreadable manifest ({e.__class__.__name__}: {e})") from None
        problem = _schema_problem(data, folder)
        if problem:
            raise ManifestError(f"{path}: malformed manifest: {problem}")
        return cls(folder, data["models"], data["policy"], float(data["detector"]["threshold"]), data)

    def verify(self, name: str) -> Path:
        """The path of model `name` once its sha256 matches the manifest; ModelError otherwise."""
        if name not in self.models:
            raise ModelError(f"{self.folder / 'manifest.json'} lists no model {name!r} "
                             f"(it has {', '.join(sorted(self.models))})")
        entry = self.models[name]
        path = self.folder / entry["file"]
        if not path.is_file():
            raise ModelError(f"{path}: model file missing")
        actual = sha256(path)
        if actual != entry["sha256"]:
            raise ModelError(f"{path}: sha256 mismatch, the file was altered or is incomplete "
                             f"(manifest {entry['sha256'][:12]}..., file {actual[:12]}...)")
        return path


def _schema_problem(data, folder: Path) -> Optional[str]:
    """What is wrong with a parsed manifest.json, or None: the one place its schema is checked."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    version = data.get("format_version")
    if not (_is_int(version) and version == FORMAT_VERSION):
        return f"format_version {_short(version)}, this digitguard reads {FORMAT_VERSION}"
    detector = data.get("detector")
    threshold = detector.get("threshold") if isinstance(detector, dict) else None
    if not (_is_number(threshold) and 0 < threshold < 1):  # NaN fails both comparisons
        return f"detector threshold {_short(threshold)} is not a number between 0 and 1"
    if not isinstance(data.get("policy"), dict):
        return "policy is not a JSON object"
    from .pipeline import Policy  # here, not at the top: pipeline imports this module
    try:
        Policy(**data["policy"])
    except (TypeError, InvalidInputError) as e:
        return f"bad policy ({e})"
    models = data.get("models")
    if not (isinstance(models, dict) and models):
        return "models is not a JSON object naming at least one model"
    for name, entry in models.items():
        problem = _entry_problem(entry, folder)
        if problem:
            return f"model {_short(name)}: {problem}"
    return None


def _entry_problem(entry, folder: Path) -> Optional[str]:
    if not isinstance(entry, dict):
        return f"expected a JSON object, got {type(entry).__name__}"
    file, digest, size = entry.get("file"), entry.get("sha256"), entry.get("bytes", 0)
    if not (isinstance(file, str) and file):
        return f"file {_short(file)} is not a file name"
    if not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
        return f"sha256 {_short(digest)} is not 64 lowercase hex digits"
    if not (_is_int(size) and size >= 0):
        return f"bytes {_short(size)} is not a file size"
    return _outside_problem(file, folder)


def _outside_problem(file: str, folder: Path) -> Optional[str]:
    """Why `file` is not a file inside `folder` (absolute, `..`, a symlink out), or None."""
    if Path(file).is_absolute() or ".." in Path(file).parts:
        return f"file {_short(file)} is not a name inside the artifacts folder"
    try:
        inside, resolved = folder.resolve(), (folder / file).resolve()
    except (OSError, ValueError, RuntimeError) as e:  # a NUL in the name, a symlink loop
        return f"file {_short(file)} cannot be resolved ({e})"
    if resolved == inside or inside not in resolved.parents:
        return f"file {_short(file)} resolves to {resolved}, outside the artifacts folder {inside}"
    return None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is a Python int


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_samples(folder):
    """The demo samples of an artifacts folder: clean digits, PGD attacks on them, and their labels."""
    path = Path(folder) / "samples" / "demo.npz"
    try:
        with np.load(path) as data:
            return data["clean"], data["adversarial"], data["labels"]
    except (OSError, KeyError, ValueError) as e:
        raise ImageReadError(f"{path}: demo samples missing or unreadable ({e}); "
                             "they are written by `python -m digitguard.export`") from None
