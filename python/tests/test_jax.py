"""JAX interop: JAX arrays go in through DLPack without a copy and a JAX array
comes back (numpy memory JAX takes over); tracers and JAX outputs are refused."""

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="JAX is not installed (pip install jax): no JAX interop to test")

import jax.numpy as jnp  # noqa: E402

import attnrt  # noqa: E402
import reference  # noqa: E402
from conftest import LSE_TOLERANCE, TOLERANCE, f64, rand  # noqa: E402

JAX_DTYPES = {"float32": jnp.float32, "float16": jnp.float16, "bfloat16": jnp.bfloat16}


def jrand(rng, shape, dtype="float32"):
    return jnp.asarray(rand(rng, shape, dtype), dtype=JAX_DTYPES[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_arrays_of_any_dtype_give_a_jax_array(rng, dtype):
    q, k, v = jrand(rng, (2, 4, 13, 64), dtype), jrand(rng, (2, 2, 31, 64), dtype), jrand(rng, (2, 2, 31, 64), dtype)
    out, lse = attnrt.attention(q, k, v, causal=True, lse=True)
    assert isinstance(out, jax.Array) and out.dtype == q.dtype and out.shape == q.shape
    assert isinstance(lse, jax.Array) and lse.dtype == jnp.float32 and lse.shape == (2, 4, 13)
    want, want_lse = reference.attention(f64(q), f64(k), f64(v), causal=True)
    np.testing.assert_allclose(f64(out), want, atol=TOLERANCE[dtype], rtol=0)
    np.testing.assert_allclose(f64(lse), want_lse, atol=LSE_TOLERANCE[dtype], rtol=1e-5)
    # The result is an ordinary JAX array: JAX computes with it.
    np.testing.assert_allclose(f64(jnp.sum(out.astype(jnp.float32))), want.sum(), rtol=1e-2)


def test_bshd_layout_and_numpy_out(rng):
    q, k, v = jrand(rng, (1, 9, 4, 32)), jrand(rng, (1, 20, 2, 32)), jrand(rng, (1, 20, 2, 32))
    given = np.empty(q.shape, np.float32)
    got, lse = attnrt.attention(q, k, v, layout="bshd", out=given, lse=True)
    assert got is given and isinstance(lse, jax.Array) and lse.shape == (1, 4, 9)
    t = lambda x: np.swapaxes(f64(x), 1, 2)  # noqa: E731
    want, _ = reference.attention(t(q), t(k), t(v))
    np.testing.assert_allclose(t(given), want, atol=TOLERANCE["float32"], rtol=0)


def test_inputs_read_in_place(rng):
    # A JAX array over numpy memory (JAX shares aligned buffers, copy=False
    # insists): attnrt sees a change made to that memory, so it read no copy.
    cache = attnrt._aligned_empty((1, 2, 40, 32), np.float32)
    cache[...] = rand(rng, cache.shape)
    k = jax.dlpack.from_dlpack(cache, copy=False)
    assert k.unsafe_buffer_pointer() == cache.ctypes.data
    q = jrand(rng, (1, 2, 1, 32))
    first = np.asarray(attnrt.attention(q, k, k))
    cache[:, :, 10] *= 3
    second = np.asarray(attnrt.attention(q, k, k))
    want, _ = reference.attention(f64(q), cache, cache)
    np.testing.assert_allclose(second, want, atol=TOLERANCE["float32"], rtol=0)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("bf16", [False, True])
def test_output_handed_over_without_copy(bf16):
    # What attention does with its numpy output: JAX keeps the same memory.
    a = attnrt._aligned_empty((3, 5, 7), np.uint16 if bf16 else np.float32)
    a[...] = 0x3F80 if bf16 else 1.5  # bfloat16 1.0
    j = attnrt._jax_view(a, bf16)
    assert j.unsafe_buffer_pointer() == a.ctypes.data
    assert j.dtype == (jnp.bfloat16 if bf16 else jnp.float32)
    assert float(j[2, 4, 6]) == (1.0 if bf16 else 1.5)


def test_out_and_tracers_refused(rng):
    q = jrand(rng, (1, 2, 3, 16))
    with pytest.raises(ValueError, match="out cannot be a JAX array"):
        attnrt.attention(q, q, q, out=jnp.zeros_like(q))
    with pytest.raises(ValueError, match="lse cannot be a JAX array"):
        attnrt.attention(q, q, q, lse=jnp.zeros((1, 2, 3), jnp.float32))
    with pytest.raises(TypeError, match="q is a JAX tracer"):
        jax.jit(lambda x: attnrt.attention(x, x, x))(q)
    with pytest.raises(TypeError, match="k is a JAX tracer"):
        jax.jit(lambda x: attnrt.attention(np.asarray(q), x, x))(q)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_under_jit_through_pure_callback(rng, dtype):
    # The way in from jitted code: the callback gets numpy arrays (ml_dtypes
    # bfloat16 for bfloat16) and returns attnrt's numpy result.
    q, k, v = jrand(rng, (1, 2, 5, 32), dtype), jrand(rng, (1, 1, 9, 32), dtype), jrand(rng, (1, 1, 9, 32), dtype)

    @jax.jit
    def attend(q, k, v):
        return jax.pure_callback(lambda *a: attnrt.attention(*a, causal=True),
                                 jax.ShapeDtypeStruct(q.shape, q.dtype), q, k, v)

    got = attend(q, k, v)
    assert isinstance(got, jax.Array) and got.dtype == q.dtype
    np.testing.assert_array_equal(f64(got), f64(attnrt.attention(q, k, v, causal=True)))
