"""`digitguard info`: versions, onnxruntime providers, every model with its sha256 check, and whether the
pipeline `predict` would run loads: exit 2 (setup error) when anything is wrong."""
import platform
from importlib.metadata import PackageNotFoundError, version

import cv2
import numpy as np
import onnxruntime as ort

from ..errors import DigitguardError, ManifestError, ModelError
from ..manifest import Manifest
from ..pipeline import Pipeline
from .common import verb_parser


def add_parser(subparsers):
    parser = verb_parser(subparsers, "info", help="versions, providers, models and their sha256 checks",
                         description="Show the environment and check every model file against its manifest sha256.")
    parser.add_argument("--artifacts", metavar="DIR", help="folder with manifest.json (default: the shipped models)")


def run(args) -> int:
    try:
        digitguard = version("digitguard")
    except PackageNotFoundError:
        digitguard = "not installed"
    print(f"digitguard {digitguard}, python {platform.python_version()}, onnxruntime {ort.__version__}, "
          f"numpy {np.__version__}, opencv {cv2.__version__}")
    print(f"onnxruntime providers: {', '.join(ort.get_available_providers())}")
    try:
        manifest = Manifest.load(args.artifacts)
    except ManifestError as e:
        print(f"models: none ({e})")
        return 2
    print(f"artifacts: {manifest.folder}\ndetector threshold: {manifest.threshold:.4f}\npolicy: {manifest.policy}")
    failed = False
    for name, entry in manifest.models.items():
        try:
            manifest.verify(name)
            status = "sha256 ok"
        except ModelError as e:
            status, failed = f"FAILED: {e}", True
        print(f"  {name:<16} {entry['file']:<22} {entry.get('bytes', 0):>10,} bytes  {status}")
    if failed:
        return 2
    try:  # what predict does with these models and their policy: it must succeed too
        Pipeline.load(args.artifacts)
    except DigitguardError as e:
        print(f"pipeline: FAILED: {e}")
        return 2
    print("pipeline: loads")
    return 0
