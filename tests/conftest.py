"""Shared fixtures: quick-profile checkpoints and their ONNX export, made once per test session.

Set DIGITGUARD_TEST_CHECKPOINTS / DIGITGUARD_TEST_ARTIFACTS to reuse existing ones while developing.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "artifacts"


@pytest.fixture(scope="session")
def quick_checkpoints(tmp_path_factory):
    """The four models trained with `--profile quick` (about a minute on 2 cores)."""
    if os.environ.get("DIGITGUARD_TEST_CHECKPOINTS"):
        return Path(os.environ["DIGITGUARD_TEST_CHECKPOINTS"])
    out = tmp_path_factory.mktemp("checkpoints")
    subprocess.run([sys.executable, "-m", "digitguard.train", "all", "--profile", "quick", "--out", str(out)],
                   check=True)
    return out


@pytest.fixture(scope="session")
def quick_artifacts(request, tmp_path_factory):
    """The quick checkpoints exported by `python -m digitguard.export` (parity checked on the way)."""
    if os.environ.get("DIGITGUARD_TEST_ARTIFACTS"):
        return Path(os.environ["DIGITGUARD_TEST_ARTIFACTS"])
    quick_checkpoints = request.getfixturevalue("quick_checkpoints")  # trained only when an export is needed
    out = tmp_path_factory.mktemp("artifacts")
    subprocess.run([sys.executable, "-m", "digitguard.export", "--checkpoints", str(quick_checkpoints),
                    "--out", str(out), "--parity-images", "200"], check=True)
    return out


@pytest.fixture(scope="session")
def shipped_artifacts():
    """The models committed in artifacts/ (what `pip install digitguard` carries)."""
    if not (SHIPPED / "manifest.json").is_file():
        pytest.skip("artifacts/ holds no exported models yet")
    return SHIPPED
