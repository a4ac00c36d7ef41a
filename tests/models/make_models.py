#!/usr/bin/python3
"""Builds the small ONNX classifiers the classify tests and the benchmark use, with Debian's
python3-onnx, each with its sidecar (MODEL.json) and labels file, into the folder given.

  colour.onnx       mean colour -> fixed 3x3 weights -> softmax: names an image's dominant colour
                    (red, green, blue), known by construction.
  conv.onnx         two convolutions, max pooling, global pooling, a dense layer, softmax; fixed
                    pseudo-random weights (seed 7). Input 3x40x48 (H != W, to catch layout slips).
  mobilenetv2.onnx  (with --mobilenet) a MobileNetV2-shaped network of realistic cost (224x224,
                    17 inverted-residual blocks, 1000 classes) with random weights: no package
                    ships a pretrained ONNX ImageNet classifier, so the benchmark uses this.

and the broken inputs the error tests need: truncated.onnx (half of conv.onnx), text.onnx (not
ONNX at all), conv-wrong-shape.json (a sidecar whose input size the model refuses) and
conv-short-labels.txt (one label too few).
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 11


def tensor(name, array):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def save(out, name, nodes, inits, c, h, w, classes, sidecar, labels, opset=OPSET):
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", c, h, w])
    y = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", classes])
    graph = helper.make_graph(nodes, name, [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 6
    onnx.checker.check_model(model)
    onnx.save(model, str(out / f"{name}.onnx"))
    (out / f"{name}-labels.txt").write_text("".join(f"{l}\n" for l in labels))
    sidecar = dict(sidecar, labels=f"{name}-labels.txt")
    (out / f"{name}.json").write_text(json.dumps(sidecar, indent=2) + "\n")


def colour(out):
    # The mean of each channel (RGB order, scaled to 0..1) times 10: the softmax picks the
    # channel with the largest mean.
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["scores"], axis=1),
    ]
    inits = [tensor("w", np.eye(3) * 10.0), tensor("b", np.zeros(3))]
    sidecar = {"input": {"width": 32, "height": 32}, "resize": "stretch", "scale": 1 / 255,
               "mean": [0, 0, 0], "std": [1, 1, 1], "channels": "rgb", "layout": "nchw", "top_k": 3}
    save(out, "colour", nodes, inits, 3, 32, 32, 3, sidecar,
         ["red, scarlet", "green, emerald", "blue, azure"])


def conv(out):
    rng = np.random.default_rng(7)
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["scores"], axis=1),
    ]
    inits = [
        tensor("w1", rng.normal(0, 0.5, (8, 3, 3, 3))), tensor("b1", rng.normal(0, 0.1, 8)),
        tensor("w2", rng.normal(0, 0.3, (16, 8, 3, 3))), tensor("b2", rng.normal(0, 0.1, 16)),
        tensor("w3", rng.normal(0, 1.0, (10, 16))), tensor("b3", rng.normal(0, 0.1, 10)),
    ]
    sidecar = {"input": {"width": 48, "height": 40}, "resize": "stretch", "scale": 1 / 255,
               "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "channels": "rgb",
               "layout": "nchw", "top_k": 5}
    labels = [f"n{1440000 + i:08d} class{i}, synonym{i}" for i in range(10)]
    save(out, "conv", nodes, inits, 3, 40, 48, 10, sidecar, labels)
    # The broken companions.
    data = (out / "conv.onnx").read_bytes()
    (out / "truncated.onnx").write_bytes(data[: len(data) // 2])
    (out / "text.onnx").write_text("this is not an ONNX model\n")
    (out / "truncated.json").write_text(json.dumps(dict(sidecar, labels="conv-labels.txt")))
    (out / "text.json").write_text(json.dumps(dict(sidecar, labels="conv-labels.txt")))
    (out / "conv-short-labels.txt").write_text("".join(f"{l}\n" for l in labels[:-1]))
    wrong = dict(sidecar, labels="conv-labels.txt", input={"width": 64, "height": 64})
    (out / "conv-wrong-shape.json").write_text(json.dumps(wrong))


def mobilenetv2(out):
    """MobileNetV2 (width 1.0, 224x224): the real layer shapes, random weights (seed 3)."""
    rng = np.random.default_rng(3)
    nodes, inits = [], []
    count = [0]

    def conv_bn_relu(x, cin, cout, k, stride, groups=1, relu=True):
        count[0] += 1
        n = f"conv{count[0]}"
        fan = cin // groups * k * k
        inits.append(tensor(f"{n}.w", rng.normal(0, np.sqrt(2.0 / fan), (cout, cin // groups, k, k))))
        inits.append(tensor(f"{n}.b", rng.normal(0, 0.01, cout)))
        pad = k // 2
        nodes.append(helper.make_node("Conv", [x, f"{n}.w", f"{n}.b"], [n], kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[pad] * 4, group=groups))
        if not relu:
            return n
        # Clip-6 (min/max attributes): OpenCV 4.6's importer takes Clip with one input only.
        nodes.append(helper.make_node("Clip", [n], [f"{n}.r"], min=0.0, max=6.0))
        return f"{n}.r"

    x = conv_bn_relu("image", 3, 32, 3, 2)
    cin = 32
    for t, c, reps, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                          (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(reps):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = x if t == 1 else conv_bn_relu(x, cin, hidden, 1, 1)
            y = conv_bn_relu(y, hidden, hidden, 3, stride, groups=hidden)
            y = conv_bn_relu(y, hidden, c, 1, 1, relu=False)
            if stride == 1 and cin == c:
                count[0] += 1
                nodes.append(helper.make_node("Add", [x, y], [f"add{count[0]}"]))
                y = f"add{count[0]}"
            x, cin = y, c
    x = conv_bn_relu(x, cin, 1280, 1, 1)
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]), helper.make_node("Flatten", ["gap"], ["flat"])]
    inits += [tensor("fc.w", rng.normal(0, 0.01, (1000, 1280))), tensor("fc.b", np.zeros(1000))]
    nodes += [helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1),
              helper.make_node("Softmax", ["logits"], ["scores"], axis=1)]
    sidecar = {"input": {"width": 224, "height": 224}, "resize": "shorter-crop", "resize_to": 256,
               "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
               "channels": "rgb", "layout": "nchw", "top_k": 5}
    labels = [f"n{2000000 + i:08d} class{i}" for i in range(1000)]
    save(out, "mobilenetv2", nodes, inits, 3, 224, 224, 1000, sidecar, labels, opset=10)


def main():
    args = sys.argv[1:]
    out = Path(args[-1])
    out.mkdir(parents=True, exist_ok=True)
    colour(out)
    conv(out)
    if "--mobilenet" in args:
        mobilenetv2(out)


if __name__ == "__main__":
    main()
