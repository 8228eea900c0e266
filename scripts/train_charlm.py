#!/usr/bin/python3
"""Trains Greylane's demo language-model pair: two character-level models of
the licence texts every Debian system ships (/usr/share/common-licenses), and
writes the weights the agent's `builtin-lm` backend loads
(resources/models/lm-v1.glm, lm-v2.glm).

Run with Debian's interpreter (needs python3-numpy, nothing else):
    /usr/bin/python3 scripts/train_charlm.py
Deterministic: fixed seeds and file order, so re-running gives the same files.

Each model reads the last `context` characters, embeds each, and passes the
concatenation through dense tanh layers to a softmax over 96 characters
(newline and printable ASCII). v1 is small (8 characters of context, one
layer of 192); v2 larger (16 characters, 384 then 192): v2 writes better
text, and its header asks for a slower pace, as a bigger model on the same
GPU would be.

File format (.glm): a text header, one item per line, ending with "end",
followed by little-endian float32 data: the embedding table (vocab x dim,
row-major), then for each layer its weights (out x in, row-major) and biases.
"""
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "resources", "models")
LICENSES = "/usr/share/common-licenses"
VOCAB = 96  # 0 = newline, 1..95 = ' '..'~'


def encode(text):
    ids = []
    for ch in text:
        if ch == "\n":
            ids.append(0)
        elif " " <= ch <= "~":
            ids.append(ord(ch) - 31)
        elif ch == "\t":
            ids.append(1)
        # anything else (a few non-ASCII letters) is left out
    return np.array(ids, dtype=np.int64)


def corpus():
    seen = set()
    parts = []
    for name in sorted(os.listdir(LICENSES)):
        real = os.path.realpath(os.path.join(LICENSES, name))
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        with open(real, encoding="utf-8", errors="replace") as f:
            parts.append(f.read())
    return encode("\n\n".join(parts))


def windows(ids, context):
    padded = np.concatenate([np.zeros(context, dtype=np.int64), ids])
    idx = np.arange(len(ids))[:, None] + np.arange(context)[None, :]
    return padded[idx], ids


class Model:
    def __init__(self, rng, context, dim, hidden):
        self.context, self.dim, self.hidden = context, dim, hidden
        self.emb = rng.normal(0, 0.1, (VOCAB, dim)).astype(np.float32)
        sizes = [context * dim] + list(hidden) + [VOCAB]
        self.w = [(rng.normal(0, 1 / np.sqrt(a), (a, b))).astype(np.float32)
                  for a, b in zip(sizes, sizes[1:])]
        self.b = [np.zeros(b, dtype=np.float32) for b in sizes[1:]]
        self.params = [self.emb] + self.w + self.b
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def forward(self, x):
        acts = [self.emb[x].reshape(len(x), -1)]
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            z = acts[-1] @ w + b
            acts.append(np.tanh(z) if i < len(self.w) - 1 else z)
        return acts

    def loss_and_step(self, x, y, lr):
        acts = self.forward(x)
        logits = acts[-1]
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(len(y)), y] + 1e-9).mean()
        grad = p
        grad[np.arange(len(y)), y] -= 1
        grad /= len(y)
        gw, gb = [None] * len(self.w), [None] * len(self.w)
        for i in reversed(range(len(self.w))):
            gw[i] = acts[i].T @ grad
            gb[i] = grad.sum(axis=0)
            grad = grad @ self.w[i].T
            if i > 0:
                grad = grad * (1 - acts[i] ** 2)
        gemb = np.zeros_like(self.emb)
        np.add.at(gemb, x.reshape(-1), grad.reshape(-1, self.dim))
        self.adam([gemb] + gw + gb, lr)
        return loss

    def adam(self, grads, lr, b1=0.9, b2=0.999):
        self.t += 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            mh = m / (1 - b1 ** self.t)
            vh = v / (1 - b2 ** self.t)
            p -= (lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)

    def write(self, path, version, pace):
        layers = list(zip(self.w, self.b))
        header = ["greylane-charlm 1", "model lm", f"version {version}",
                  f"vocab {VOCAB}", f"context {self.context}",
                  f"embedding {VOCAB} {self.dim}", f"layers {len(layers)}"]
        for i, (w, _) in enumerate(layers):
            act = "softmax" if i == len(layers) - 1 else "tanh"
            header.append(f"dense {w.shape[0]} {w.shape[1]} {act}")
        for key, value in pace.items():
            header.append(f"{key} {value}")
        header.append("end")
        with open(path, "wb") as f:
            f.write(("\n".join(header) + "\n").encode())
            f.write(np.ascontiguousarray(self.emb, dtype="<f4").tobytes())
            for w, b in layers:
                f.write(np.ascontiguousarray(w.T, dtype="<f4").tobytes())
                f.write(np.ascontiguousarray(b, dtype="<f4").tobytes())


def sample(model, prompt, n, rng):
    ids = list(encode(prompt))
    for _ in range(n):
        ctx = ([0] * model.context + ids)[-model.context:]
        logits = model.forward(np.array([ctx]))[-1][0]
        p = np.exp((logits - logits.max()) / 0.7)
        p /= p.sum()
        ids.append(int(rng.choice(VOCAB, p=p)))
    return "".join("\n" if i == 0 else chr(i + 31) for i in ids)


def main():
    ids = corpus()
    cut = len(ids) * 19 // 20
    specs = {
        # version: context, embedding, hidden layers, epochs, pace
        "v1": (8, 16, (192,), 6,
               {"first_token_ms": 40, "token_ms": 12, "prefill_us_per_token": 30}),
        "v2": (16, 24, (384, 192), 6,
               {"first_token_ms": 70, "token_ms": 20, "prefill_us_per_token": 60}),
    }
    for version, (context, dim, hidden, epochs, pace) in specs.items():
        rng = np.random.RandomState(20261124)
        model = Model(rng, context, dim, hidden)
        x, y = windows(ids, context)
        xtr, ytr, xte, yte = x[:cut], y[:cut], x[cut:], y[cut:]
        start = time.time()
        for epoch in range(epochs):
            order = rng.permutation(len(xtr))
            lr = 3e-3 * (0.6 ** epoch)
            losses = []
            for at in range(0, len(order), 256):
                batch = order[at:at + 256]
                losses.append(model.loss_and_step(xtr[batch], ytr[batch], lr))
            logits = model.forward(xte)[-1]
            logits -= logits.max(axis=1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            held = -logp[np.arange(len(yte)), yte].mean()
            print(f"{version} epoch {epoch + 1}: train {np.mean(losses):.3f} "
                  f"held-out {held:.3f} nats/char ({time.time() - start:.0f} s)")
        model.write(os.path.join(OUT, f"lm-{version}.glm"), version, pace)
        print(repr(sample(model, "This License ", 160, np.random.RandomState(1))))


if __name__ == "__main__":
    main()
