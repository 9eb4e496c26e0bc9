"""Writes the NumPy files of UserData.ReadsWhatNumpyWrites (src/nn/user_data_test.cc) into a folder.

Pixels follow (n * 31 + y * 7 + x * 3 + c) % 256 for image n, row y, column x, channel c;
labels are n % 10.
    python3 make_npy.py OUT_DIR
"""
import os
import sys

import numpy as np


def pattern(n, size, channels):
    n_, y, x, c = np.meshgrid(np.arange(n), np.arange(size), np.arange(size), np.arange(channels),
                              indexing="ij")
    return ((n_ * 31 + y * 7 + x * 3 + c) % 256).astype(np.uint8)  # NHWC


def main(out):
    rgb = pattern(12, 32, 3)
    labels = (np.arange(12) % 10).astype(np.int64)
    arrays = dict(x_train=rgb, y_train=labels, x_test=rgb, y_test=labels.astype(np.uint8))
    np.savez(os.path.join(out, "savez.npz"), **arrays)
    np.savez_compressed(os.path.join(out, "savez_compressed.npz"), **arrays)

    # The folder convention, float32 in [0, 1], NCHW, int32 labels.
    gray = pattern(12, 28, 1).transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
    folder = os.path.join(out, "npy")
    os.makedirs(folder, exist_ok=True)
    for split in ("train", "test"):
        np.save(os.path.join(folder, split + "_images.npy"), gray)
        np.save(os.path.join(folder, split + "_labels.npy"), labels.astype(np.int32))

    np.save(os.path.join(out, "fortran.npy"), np.asfortranarray(rgb[0]))
    np.save(os.path.join(out, "big_endian.npy"), gray.astype(">f4"))


if __name__ == "__main__":
    main(sys.argv[1])
