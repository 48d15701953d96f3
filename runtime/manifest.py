"""The artifacts folder: manifest.json, the sha256 check of every model file, the shipped default."""
from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ImageReadError, ManifestError, ModelError

FORMAT_VERSION = 1


def default_artifacts() -> Path:
    """The folder of the installed `digitguard.artifacts` package (the models pip install ships)."""
    spec = importlib.util.find_spec("digitguard.artifacts")
    # search locations rather than importlib.resources.files: that one rejects the namespace
    # package an editable install makes of artifacts/ (it has no __init__.py)
    folders = [Path(p) for p in (spec.submodule_search_locations or []) if Path(p).is_dir()] if spec else []
    if not folders:
        raise ManifestError("the digitguard.artifacts package is not installed; pass an artifacts folder")
    return folders[0]


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
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ManifestError(f"{path} not found: no exported models there "
                                "(export them with `python -m digitguard.export`, or pass --artifacts)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ManifestError(f"{path}: unreadable manifest ({e})") from None
        try:
            if data["format_version"] != FORMAT_VERSION:
                raise ManifestError(f"{path}: format_version {data['format_version']}, "
                                    f"this digitguard reads {FORMAT_VERSION}")
            models = dict(data["models"])
            if not all(isinstance(m, dict) and "file" in m and "sha256" in m for m in models.values()):
                raise ManifestError(f"{path}: every model needs a file and a sha256")
            return cls(folder, models, dict(data["policy"]), float(data["detector"]["threshold"]), data)
        except (KeyError, TypeError, ValueError) as e:
            raise ManifestError(f"{path}: malformed manifest ({e.__class__.__name__}: {e})") from None

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


def load_samples(folder):
    """The demo samples of an artifacts folder: clean digits, PGD attacks on them, and their labels."""
    path = Path(folder) / "samples" / "demo.npz"
    try:
        with np.load(path) as data:
            return data["clean"], data["adversarial"], data["labels"]
    except (OSError, KeyError, ValueError) as e:
        raise ImageReadError(f"{path}: demo samples missing or unreadable ({e}); "
                             "they are written by `python -m digitguard.export`") from None
