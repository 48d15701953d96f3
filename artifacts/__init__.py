"""The shipped models: ONNX files, manifest.json, demo samples and the evaluation report."""
