"""The GIL is released: 8 Python threads call attnrt at once and get
bit-identical results to serial calls."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import attnrt
from conftest import rand


def test_concurrent_calls_bit_identical(rng):
    cases = [(rand(rng, (1, 4, 64, 64)), rand(rng, (1, 2, 200 + 16 * i, 64)),
              rand(rng, (1, 2, 200 + 16 * i, 64))) for i in range(8)]
    runtime = attnrt.Runtime(threads=2)
    for rt in (None, runtime):
        serial = [attnrt.attention(q, k, v, causal=True, runtime=rt) for q, k, v in cases]
        with ThreadPoolExecutor(8) as pool:
            for _ in range(3):
                futures = [pool.submit(attnrt.attention, q, k, v, causal=True, runtime=rt)
                           for q, k, v in cases]
                for want, f in zip(serial, futures):
                    np.testing.assert_array_equal(f.result(), want)
