"""Shared fixtures: the shipped models, the MNIST test set, and quick-profile checkpoints with their ONNX export.

Tests that use the quick models train them, so they are marked slow (`pytest -m "not slow"` leaves them out).
Set DIGITGUARD_TEST_CHECKPOINTS / DIGITGUARD_TEST_ARTIFACTS to reuse existing ones while developing.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SHIPPED, mnist

TRAINED = {"quick_checkpoints", "quick_artifacts"}  # fixtures that train when nothing is there to reuse


def pytest_collection_modifyitems(items):
    for item in items:
        if TRAINED & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def mnist_test_set():
    """The 10,000 MNIST test digits (uint8 [N, 28, 28], white on black) and labels, read with numpy alone."""
    return mnist.mnist_test_set()


@pytest.fixture(scope="session")
def quick_checkpoints(tmp_path_factory):
    """The four models trained with `--profile quick` (about a minute on 2 cores)."""
    if os.environ.get("DIGITGUARD_TEST_CHECKPOINTS"):
        return Path(os.environ["DIGITGUARD_TEST_CHECKPOINTS"])
    data = mnist.require_mnist()
    out = tmp_path_factory.mktemp("checkpoints")
    subprocess.run([sys.executable, "-m", "digitguard.train", "all", "--profile", "quick", "--out", str(out),
                    "--data-dir", str(data)], check=True)
    return out


@pytest.fixture(scope="session")
def quick_artifacts(request, tmp_path_factory):
    """The quick checkpoints exported by `python -m digitguard.export` (parity checked on the way)."""
    if os.environ.get("DIGITGUARD_TEST_ARTIFACTS"):
        return Path(os.environ["DIGITGUARD_TEST_ARTIFACTS"])
    data = mnist.require_mnist()
    quick_checkpoints = request.getfixturevalue("quick_checkpoints")  # trained only when an export is needed
    out = tmp_path_factory.mktemp("artifacts")
    subprocess.run([sys.executable, "-m", "digitguard.export", "--checkpoints", str(quick_checkpoints),
                    "--out", str(out), "--parity-images", "200", "--data-dir", str(data)], check=True)
    return out


@pytest.fixture(scope="session")
def shipped_artifacts():
    """The models committed in artifacts/ (what `pip install digitguard` carries)."""
    if not (SHIPPED / "manifest.json").is_file():
        pytest.skip("artifacts/ holds no exported models yet")
    return SHIPPED
