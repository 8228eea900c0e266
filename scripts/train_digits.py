#!/usr/bin/python3
"""Trains Greylane's demo model pair on the 8x8 digits data that Debian's
python3-sklearn ships, and writes the weights the agent's built-in backend
loads (resources/models/digits-v1.glm, digits-v2.glm) plus the held-out rows
the load generator and the tests send (digits-holdout.csv).

Run with Debian's interpreter: /usr/bin/python3 scripts/train_digits.py
Deterministic: fixed split and seeds, so re-running gives the same files.

v1 is small (64-32-10) and v2 larger (64-128-64-10): they differ in latency
and in a few predictions, which is what a canary demo needs.

File format (.glm): a text header, one item per line, ending with "end",
followed by little-endian float32 data: for each layer its weights
(out x in, row-major) then its biases.
"""
import gzip
import os
import sys

import numpy as np
from sklearn.neural_network import MLPClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "resources", "models")
DATA = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"


def load():
    with gzip.open(DATA, "rt") as f:
        rows = np.loadtxt(f, delimiter=",")
    return rows[:, :64].astype(np.float32), rows[:, 64].astype(np.int64)


def write_glm(path, version, clf, scale):
    layers = list(zip(clf.coefs_, clf.intercepts_))
    with open(path, "wb") as f:
        header = ["greylane-mlp 1", "model digits", f"version {version}",
                  f"input_scale {scale!r}", f"layers {len(layers)}"]
        for i, (w, _) in enumerate(layers):
            act = "softmax" if i == len(layers) - 1 else "relu"
            header.append(f"dense {w.shape[0]} {w.shape[1]} {act}")
        header.append("end")
        f.write(("\n".join(header) + "\n").encode())
        for w, b in layers:
            f.write(np.ascontiguousarray(w.T, dtype="<f4").tobytes())
            f.write(np.ascontiguousarray(b, dtype="<f4").tobytes())


def main():
    x, y = load()
    order = np.random.RandomState(20261122).permutation(len(x))
    test = order[: len(x) // 5]
    train = order[len(x) // 5:]
    scale = 1.0 / 16.0
    specs = {"v1": (32,), "v2": (128, 64)}
    for version, hidden in specs.items():
        clf = MLPClassifier(hidden_layer_sizes=hidden, max_iter=600,
                            random_state=7, alpha=1e-3)
        clf.fit(x[train] * scale, y[train])
        acc = clf.score(x[test] * scale, y[test])
        print(f"{version}: hidden={hidden} holdout accuracy={acc:.4f}")
        write_glm(os.path.join(OUT, f"digits-{version}.glm"), version, clf, scale)
    with open(os.path.join(OUT, "digits-holdout.csv"), "w") as f:
        f.write("# label,pixel0..pixel63 (0-16); rows held out from training\n")
        for i in test:
            f.write(",".join([str(int(y[i]))] + [str(int(v)) for v in x[i]]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
