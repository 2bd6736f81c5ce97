#!/usr/bin/python3
"""make_data.py - writes the sklearn 8x8 digits data set (1,797 images) for the train_digits demo.

Output (committed, so the demo itself needs no Python):
  digits_train.bin   1,438 images
  digits_test.bin      359 images (20 % of each class, rounded: 35 to 37 per class)
Format: the 8 bytes "CNNCDIG1", a little-endian uint32 count, then per image
64 bytes of pixels (row-major 8x8, values 0..16 as in sklearn) and 1 byte label.
The split is seeded: reruns give byte-identical files.
Usage: make_data.py [OUT_DIR]
"""
import os
import struct
import sys

import numpy as np
from sklearn.datasets import load_digits


def write(path, images, labels):
    with open(path, "wb") as f:
        f.write(b"CNNCDIG1" + struct.pack("<I", len(labels)))
        for im, lab in zip(images, labels):
            f.write(im.astype(np.uint8).tobytes() + bytes([int(lab)]))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    d = load_digits()
    X, y = d.images.reshape(-1, 64), d.target
    assert X.min() >= 0 and X.max() <= 16 and np.all(X == np.round(X))
    rng = np.random.default_rng(20240)
    test = []
    for c in range(10):                      # stratified: 20 % of each class, rounded
        idx = np.flatnonzero(y == c)
        test.extend(rng.choice(idx, size=int(round(0.2 * len(idx))), replace=False))
    test = np.array(sorted(test))
    train = np.setdiff1d(np.arange(len(y)), test)
    train = rng.permutation(train)
    write(os.path.join(out, "digits_train.bin"), X[train], y[train])
    write(os.path.join(out, "digits_test.bin"), X[test], y[test])
    print(f"train {len(train)}, test {len(test)} images -> {out}")


if __name__ == "__main__":
    main()
