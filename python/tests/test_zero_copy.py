"""Nothing is copied: out and lse are written in place, views of larger
buffers work as inputs and as out, and out comes back as the same object."""

import numpy as np

import attnrt
import reference
from conftest import rand


def test_out_written_in_place(rng):
    q, k, v = rand(rng, (1, 2, 9, 32)), rand(rng, (1, 2, 11, 32)), rand(rng, (1, 2, 11, 32))
    out = np.full(q.shape, np.nan, np.float32)
    assert attnrt.attention(q, k, v, out=out) is out
    want, want_lse = reference.attention(q, k, v)
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)
    lse = np.full((1, 2, 9), np.nan, np.float32)
    assert attnrt.attention(q, k, v, out=out, lse=lse) is out
    np.testing.assert_allclose(lse, want_lse, atol=1e-4, rtol=1e-5)


def test_out_view_of_larger_buffer(rng):
    q, k, v = rand(rng, (2, 3, 9, 32)), rand(rng, (2, 3, 11, 32)), rand(rng, (2, 3, 11, 32))
    buf = np.zeros((2, 5, 20, 48), np.float32)
    out = buf[:, 1:4, 4:13, 8:40]
    attnrt.attention(q, k, v, out=out)
    want, _ = reference.attention(q, k, v)
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)
    out[...] = 0
    assert not buf.any()  # nothing written outside the view


def test_inputs_never_copied(rng):
    # A KV cache written between calls is seen by the next call: attnrt reads
    # the caller's memory, not a snapshot.
    cache = rand(rng, (1, 2, 64, 32))
    q = rand(rng, (1, 2, 1, 32))
    k = cache[:, :, :40]
    first = attnrt.attention(q, k, k)
    cache[:, :, 10] *= 3
    second = attnrt.attention(q, k, k)
    want, _ = reference.attention(q, k, k)
    np.testing.assert_allclose(second, want, atol=2e-5, rtol=0)
    assert not np.array_equal(first, second)


def test_buffer_protocol_objects(rng):
    # memoryview has the buffer protocol but no DLPack: read in place too.
    q, k, v = rand(rng, (1, 2, 9, 32)), rand(rng, (1, 2, 11, 32)), rand(rng, (1, 2, 11, 32))
    out = attnrt.attention(memoryview(q), memoryview(k), memoryview(v))
    want, _ = reference.attention(q, k, v)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)
    given = np.empty_like(q)
    attnrt.attention(memoryview(q), memoryview(k), memoryview(v), out=memoryview(given))
    np.testing.assert_array_equal(given, out)
