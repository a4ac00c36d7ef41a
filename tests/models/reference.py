#!/usr/bin/python3
"""One-process OpenCV DNN reference for the classify tests: python3-opencv's own imread,
resize and readNetFromONNX, the sidecar's preprocessing in numpy float32, forward passes of
exactly BATCH images (padded with zeros, as imgproc does). Prints {file: [scores...]} as JSON.

usage: reference.py MODEL.onnx BATCH IMAGE...
"""
import json
import sys

import cv2
import numpy as np

model, batch, images = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
car = json.load(open(model[:-5] + ".json"))
w, h = car["input"]["width"], car["input"]["height"]
scale = np.float32(car.get("scale", 1 / 255))
mean = np.array(car.get("mean", [0, 0, 0]), dtype=np.float32)
std = np.array(car.get("std", [1, 1, 1]), dtype=np.float32)
assert car.get("resize", "stretch") == "stretch" and car.get("layout", "nchw") == "nchw"
# OpenCV DNN results can depend on its thread count: the test runs every rank with one.
cv2.setNumThreads(1)
net = cv2.dnn.readNetFromONNX(model)
inputs = []
for path in images:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img.shape[:2] != (h, w):
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    if car.get("channels", "rgb") == "rgb":
        img = img[:, :, ::-1]
    v = (img.astype(np.float32) * scale - mean) / std
    inputs.append(np.ascontiguousarray(v.transpose(2, 0, 1)))
out = {}
for i in range(0, len(inputs), batch):
    group = inputs[i:i + batch]
    blob = np.zeros((batch,) + group[0].shape, dtype=np.float32)
    blob[: len(group)] = group
    net.setInput(blob)
    scores = net.forward()
    for j in range(len(group)):
        out[images[i + j]] = [float(s) for s in scores[j]]
print(json.dumps(out))
