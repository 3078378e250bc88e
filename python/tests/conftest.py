"""Shared makers for the attnrt tests: random arrays of each dtype and the
tolerance the comparison with the float64 reference allows."""

import ml_dtypes
import numpy as np
import pytest

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
# Absolute error allowed against the float64 reference on O(1) values: the
# inputs are already rounded, so this is the kernels' own arithmetic.
TOLERANCE = {"float32": 2e-5, "float16": 4e-3, "bfloat16": 2e-2}


def rand(rng, shape, dtype="float32"):
    return rng.standard_normal(shape).astype(DTYPES[dtype])


def f64(x):
    """Any array (numpy of any dtype, torch) as float64 numpy."""
    if type(x).__module__.startswith("torch"):
        return x.detach().float().numpy().astype(np.float64)
    return np.asarray(x).astype(np.float64)


@pytest.fixture
def rng():
    return np.random.default_rng(21)
