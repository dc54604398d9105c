"""Regenerate digits.npz, the UCI ML hand-written digits, from the copy that scikit-learn bundles.

    python demos/data/make_digits.py            in an environment that has scikit-learn (not a tinyattn dependency)
    python demos/data/make_digits.py OUT.npz    to write somewhere else (e.g. to compare with the shipped file)

Writes a compressed NumPy archive (np.savez_compressed) beside this script with two arrays and no pickled objects:

    images   uint8 (1797, 8, 8), pixel values 0..16
    labels   uint8 (1797,), digits 0..9

so that demos and tests read it with NumPy alone: ``np.load(path, allow_pickle=False)``. The archive's entries are
then stamped with a fixed date, so that a rerun writes the same bytes (given the same NumPy and zlib). Source and
licence (CC BY 4.0): see README.md beside this script.
"""
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry


def load():
    """The digits as (images, labels), both uint8, checked to be whole numbers in their ranges."""
    digits = load_digits()
    images, labels = digits.images, digits.target
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert np.array_equal(images, np.round(images)) and images.min() >= 0 and images.max() <= 16
    assert set(np.unique(labels)) == set(range(10))
    return images.astype(np.uint8), labels.astype(np.uint8)


def save(path, **arrays):
    """np.savez_compressed, then each entry rewritten with FIXED_DATE in place of the time of writing."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w") as dst:
        for entry in src.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, src.read(entry))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else Path(__file__).resolve().parent / "digits.npz"
    images, labels = load()
    save(path, images=images, labels=labels)
    with np.load(path, allow_pickle=False) as saved:
        assert np.array_equal(saved["images"], images) and np.array_equal(saved["labels"], labels)
    print(f"wrote {path}: images {images.dtype} {images.shape}, labels {labels.dtype} {labels.shape}, "
          f"{path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
