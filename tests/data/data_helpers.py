"""Helpers shared by the data tests."""

import gzip

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 array as IDX bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_idx(path, array, gz=False):
    data = idx_bytes(array)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return data
