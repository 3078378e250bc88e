"""Shared makers for the attnrt tests: random arrays of each dtype and the
tolerance the comparison with the float64 reference allows."""

import ml_dtypes
import numpy as np
import pytest

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
# Absolute error allowed against the float64 reference on O(1) values: the
# inputs are already rounded, so this is the kernels' own arithmetic.
TOLERANCE = {"float32": 2e-5, "float16": 4e-3, "bfloat16": 2e-2}
# Absolute LSE error allowed (with rtol 1e-5): tests/tolerances.hpp's. The
# avx512_bf16 set sums P rounded to bf16, so bf16's LSE is off by up to
# log(1 + 2^-8) = 3.9e-3.
LSE_TOLERANCE = {"float32": 1e-4, "float16": 1e-4, "bfloat16": 4e-3}


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
