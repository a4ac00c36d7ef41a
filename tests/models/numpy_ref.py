#!/usr/bin/python3
"""A from-scratch numpy evaluation of the test models, independent of OpenCV's DNN module: the
graph is read with python3-onnx and each node computed here in float64 (GlobalAveragePool,
Flatten, Gemm, Softmax, Conv, Relu, MaxPool: the ops make_models.py uses for colour.onnx and
conv.onnx). The sidecar's preprocessing is numpy too; the images must already be the model's
input size, so no resize (whose fixed-point rounding is OpenCV's own) stands between the
decoded pixels and the tensor. PNG decoding is lossless: any decoder gives these pixels.
Prints {file: [scores...]} as JSON.

usage: numpy_ref.py MODEL.onnx IMAGE...
"""
import json
import sys

import cv2
import numpy as np
import onnx
from onnx import numpy_helper


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def conv(x, w, b, a):
    assert a.get("group", 1) == 1 and a.get("dilations", [1, 1]) == [1, 1]
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    top, left, bottom, right = a.get("pads", [0, 0, 0, 0])
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, c, h, wd = x.shape
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    out = np.zeros((n, w.shape[0], oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]  # n, c, oh, ow
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out + b[None, :, None, None]


def max_pool(x, a):
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    assert a.get("pads", [0, 0, 0, 0]) == [0, 0, 0, 0]
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    windows = [x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] for i in range(kh) for j in range(kw)]
    return np.max(windows, axis=0)


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def gemm(a, b, c, at):
    assert at.get("transA", 0) == 0
    b = b.T if at.get("transB", 0) else b
    return at.get("alpha", 1.0) * (a @ b) + at.get("beta", 1.0) * c


def evaluate(model, x):
    values = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in model.graph.initializer}
    values[model.graph.input[0].name] = x
    for node in model.graph.node:
        ins, a, op = [values[i] for i in node.input], attrs(node), node.op_type
        if op == "Conv":
            y = conv(ins[0], ins[1], ins[2], a)
        elif op == "Relu":
            y = np.maximum(ins[0], 0)
        elif op == "MaxPool":
            y = max_pool(ins[0], a)
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            y = ins[0].reshape(ins[0].shape[0], -1)
        elif op == "Gemm":
            y = gemm(ins[0], ins[1], ins[2], a)
        elif op == "Softmax":
            y = softmax(ins[0], a.get("axis", 1))
        else:
            raise SystemExit(f"numpy_ref.py: no numpy version of {op}")
        values[node.output[0]] = y
    return values[model.graph.output[0].name]


def main():
    path, images = sys.argv[1], sys.argv[2:]
    model = onnx.load(path)
    car = json.load(open(path[:-5] + ".json"))
    w, h = car["input"]["width"], car["input"]["height"]
    scale = car.get("scale", 1 / 255)
    mean, std = np.array(car.get("mean", [0, 0, 0])), np.array(car.get("std", [1, 1, 1]))
    assert car.get("layout", "nchw") == "nchw"
    out = {}
    for image in images:
        pixels = cv2.imread(image, cv2.IMREAD_COLOR)  # BGR
        assert pixels.shape[:2] == (h, w), f"{image}: {pixels.shape[:2]} is not the model's {(h, w)}"
        if car.get("channels", "rgb") == "rgb":
            pixels = pixels[:, :, ::-1]
        x = (pixels.astype(np.float64) * scale - mean) / std
        scores = evaluate(model, x.transpose(2, 0, 1)[None])
        out[image] = [float(s) for s in scores[0]]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
