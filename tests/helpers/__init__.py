"""Helpers the tests share: test images, camera footage, the MNIST test set."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # child processes run here, so they can import tests.helpers
SHIPPED = REPO / "artifacts"  # the shipped models and manifest
