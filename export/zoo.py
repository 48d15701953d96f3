"""zoo.onnx: the timing yardstick `digitguard bench` races the shipped models against.

A classifier shaped like the ONNX model zoo's MNIST model (conv 8@5x5 -> pool -> conv 16@5x5 -> pool -> FC 10)
with random weights from a fixed seed: it measures time, not accuracy, and reads no digit right. It is made here,
at export, because building a graph needs the `onnx` package, which the runtime does not depend on.

    python -m digitguard.export.zoo --artifacts artifacts/   # add it to an already exported folder
"""
import argparse
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from digitguard.runtime.contract import IMAGE_SIZE, INPUT_NAME, LOGITS_NAME, NUM_CLASSES

from .manifest import add_model, model_entry

NAME = "zoo"
SEED = 0
PURPOSE = ("timing yardstick for `digitguard bench`, not a digit reader: the ONNX model zoo's MNIST classifier "
           f"shape (conv 8@5x5 -> pool -> conv 16@5x5 -> pool -> FC 10) with random weights (numpy seed {SEED})")


def zoo_classifier():
    """The yardstick as serialized ONNX bytes (the same bytes on every run)."""
    rng = np.random.default_rng(SEED)
    weights = {"w1": (8, 1, 5, 5), "b1": (8,), "w2": (16, 8, 5, 5), "b2": (16,), "w3": (256, NUM_CLASSES),
               "b3": (NUM_CLASSES,)}
    initializers = [numpy_helper.from_array((0.1 * rng.standard_normal(s)).astype(np.float32), n)
                    for n, s in weights.items()]
    initializers.append(numpy_helper.from_array(np.array([-1, 256], np.int64), "flat_shape"))
    node = helper.make_node
    nodes = [
        node("Conv", [INPUT_NAME, "w1", "b1"], ["c1"], kernel_shape=[5, 5], auto_pad="SAME_UPPER"),
        node("Relu", ["c1"], ["r1"]),
        node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),  # 14x14
        node("Conv", ["p1", "w2", "b2"], ["c2"], kernel_shape=[5, 5], auto_pad="SAME_UPPER"),
        node("Relu", ["c2"], ["r2"]),
        node("MaxPool", ["r2"], ["p2"], kernel_shape=[3, 3], strides=[3, 3]),  # 4x4, as in the zoo model
        node("Reshape", ["p2", "flat_shape"], ["flat"]),
        node("Gemm", ["flat", "w3", "b3"], [LOGITS_NAME]),
    ]
    graph = helper.make_graph(
        nodes, "mnist_zoo_shape",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 1, IMAGE_SIZE, IMAGE_SIZE])],
        [helper.make_tensor_value_info(LOGITS_NAME, TensorProto.FLOAT, ["N", NUM_CLASSES])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every onnxruntime this package supports
    return model.SerializeToString()


def write_zoo(folder):
    """zoo.onnx into `folder`, checked; its manifest entry."""
    path = Path(folder) / f"{NAME}.onnx"
    path.write_bytes(zoo_classifier())
    return model_entry(path, purpose=PURPOSE)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m digitguard.export.zoo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", default="artifacts", help="exported folder to add zoo.onnx to (default: artifacts/)")
    args = ap.parse_args(argv)
    folder = Path(args.artifacts)
    add_model(folder, NAME, write_zoo(folder))
    print(f"wrote {folder / (NAME + '.onnx')} and its manifest entry")


if __name__ == "__main__":
    main()
