"""attnrt.cache_write: a step's K/V rows into a paged cache, in place. Codes
against numpy's own nearest-code rounding (ml_dtypes' fp8 casts, np.rint for
int8) at the scales written or given; the cache read back by attention against
the float64 reference; both layouts; the error paths, with nothing written."""

import ml_dtypes
import numpy as np
import pytest

import attnrt
import reference
from conftest import TOLERANCE, f64

NP_CODES = {"int8": np.int8, "fp8_e4m3": ml_dtypes.float8_e4m3fn, "fp8_e5m2": ml_dtypes.float8_e5m2}
TOP = {"int8": 127.0, "fp8_e4m3": 448.0, "fp8_e5m2": 57344.0}


def encode(x, fmt):
    """Nearest code (ties to even), saturated: what cache_write promises."""
    x = np.clip(x.astype(np.float32), -TOP[fmt], TOP[fmt])
    return np.rint(x).astype(np.int8) if fmt == "int8" else x.astype(NP_CODES[fmt])


def pool(fmt, pages, heads, page, dim, layout):
    shape = (pages, heads, page, dim) if layout == "bhsd" else (pages, page, heads, dim)
    return np.zeros(shape, NP_CODES.get(fmt, fmt))


@pytest.mark.parametrize("fmt", ["int8", "fp8_e4m3", "fp8_e5m2"])
@pytest.mark.parametrize("layout", ["bhsd", "bshd"])
def test_per_token_scales_and_codes(fmt, layout):
    rng = np.random.default_rng(3)
    pages, heads, page, dim, tokens = 6, 2, 4, 24, 9
    src = rng.standard_normal((1, heads, tokens, dim)).astype(np.float32)
    cache = pool(fmt, pages, heads, page, dim, layout)
    scale = np.full(cache.shape[:-1] + (1,), np.nan, np.float32)
    slots = rng.permutation(pages * page)[:tokens].astype(np.int64)
    slots[4] = -1  # padding: skipped
    src_in = src if layout == "bhsd" else src.transpose(0, 2, 1, 3)
    attnrt.cache_write(src_in, cache, slots, scale=scale, layout=layout)
    for t, slot in enumerate(slots):
        for h in range(heads):
            at = (slot // page, h, slot % page) if layout == "bhsd" else (slot // page, slot % page, h)
            if slot < 0:
                continue
            row = src[0, h, t]
            s = np.float32(np.abs(row).max()) / np.float32(TOP[fmt])
            assert scale[at][0] == s
            np.testing.assert_array_equal(cache[at].view(np.uint8), encode(row / s, fmt).view(np.uint8))
    written = {int(s) for s in slots if s >= 0}
    for slot in set(range(pages * page)) - written:
        at = (slot // page, slice(None), slot % page) if layout == "bhsd" else (slot // page, slot % page)
        assert not cache[at].view(np.uint8).any() and np.isnan(scale[at]).all()


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "int8"])
def test_per_head_scale_is_read(fmt):
    rng = np.random.default_rng(4)
    src = (100 * rng.standard_normal((3, 2, 1, 16))).astype(np.float32)  # a decode step of 3 sequences
    cache = pool(fmt, 4, 2, 2, 16, "bhsd")
    scale = np.array([0.5, 0.125], np.float32).reshape(1, 2, 1, 1)
    slots = np.array([0, 3, 6], np.int64)
    attnrt.cache_write(src, cache, slots, scale=scale)
    assert scale.ravel().tolist() == [0.5, 0.125]
    for b, slot in enumerate(slots):
        for h in range(2):
            got = cache[slot // 2, h, slot % 2].view(np.uint8)
            np.testing.assert_array_equal(got, encode(src[b, h, 0] / scale[0, h, 0, 0], fmt).view(np.uint8))


def test_bfloat16_cache_and_src():
    rng = np.random.default_rng(5)
    src = rng.standard_normal((2, 1, 3, 8)).astype(ml_dtypes.bfloat16)  # tokens t = 3 b + m
    cache = np.zeros((3, 1, 2, 8), np.float32)
    attnrt.cache_write(src, cache, np.arange(6, dtype=np.int64))
    np.testing.assert_array_equal(cache.reshape(6, 8), src.reshape(6, 8).astype(np.float32))
    bf = np.zeros((3, 2, 2, 8), ml_dtypes.bfloat16)
    wide = rng.standard_normal((1, 2, 5, 8)).astype(np.float32)
    attnrt.cache_write(wide, bf, np.arange(5, dtype=np.int64))
    for t in range(5):
        np.testing.assert_array_equal(bf[t // 2, :, t % 2], wide[0, :, t].astype(ml_dtypes.bfloat16))


def test_written_pages_read_by_attention():
    """A prompt written token by token into shuffled int8 pages, then a causal
    chunked-prefill call on the pages against the reference on the
    dequantized cache."""
    rng = np.random.default_rng(6)
    heads, dim, page, pages, n, m = 2, 32, 4, 12, 37, 3
    k = rng.uniform(-1, 1, (1, heads, n, dim)).astype(np.float32)
    v = rng.uniform(-1, 1, (1, heads, n, dim)).astype(np.float32)
    q = rng.uniform(-1, 1, (1, heads, m, dim)).astype(np.float32)
    table = rng.permutation(pages).astype(np.int32)
    slots = (table[np.arange(n) // page] * page + np.arange(n) % page).astype(np.int64)
    kc, vc = pool("int8", pages, heads, page, dim, "bhsd"), pool("int8", pages, heads, page, dim, "bhsd")
    ks, vs = (np.zeros((pages, heads, page, 1), np.float32) for _ in range(2))
    for t in range(n):  # one decode step at a time, as a server appends them
        attnrt.cache_write(k[:, :, t:t + 1], kc, slots[t:t + 1], scale=ks)
        attnrt.cache_write(v[:, :, t:t + 1], vc, slots[t:t + 1], scale=vs)
    out = attnrt.attention(q, kc, vc, causal=True, kv_lens=[n], block_table=table[None], k_scale=ks, v_scale=vs)
    rows = lambda c, s: np.stack([f64(c[sl // page, :, sl % page]) * f64(s[sl // page, :, sl % page]) for sl in slots], 1)
    want, _ = reference.attention(f64(q), rows(kc, ks)[None], rows(vc, vs)[None], causal=True)
    np.testing.assert_allclose(f64(out), want, atol=TOLERANCE["float32"], rtol=0)
    assert np.abs(rows(kc, ks)[None] - k).max() <= ks.max() / 2 * 1.0001


def test_errors_name_the_argument_and_write_nothing():
    src = np.ones((1, 2, 3, 8), np.float32)
    cache = pool("int8", 2, 2, 4, 8, "bhsd")
    scale = np.zeros((2, 2, 4, 1), np.float32)
    slots = np.array([0, 1, 2], np.int64)
    bad = [
        (dict(slots=np.array([0, 1, 8], np.int64)), r"slots\[2\] \(8\) must be < cache.batch \* cache.seq \(8\)"),
        (dict(slots=np.array([0, 1], np.int64)), r"slots must be 1-D with 3 entries"),
        (dict(scale=None), r"scale must not be NULL with cache.dtype int8"),
        (dict(scale=np.zeros((2, 2, 4, 1), np.float64)), r"scale.dtype \(float64\) must be float32"),
        (dict(src=np.full((1, 2, 3, 8), np.inf, np.float32)), r"src\[token 0, head 0, 0\] \(inf\) must be finite"),
        (dict(src=np.ones((1, 3, 3, 8), np.float32)), r"cache.heads \(2\) must equal src.heads \(3\)"),
    ]
    for change, says in bad:
        args = dict(src=src, slots=slots, scale=scale) | change
        with pytest.raises(ValueError, match=says):
            attnrt.cache_write(args["src"], cache, args["slots"], scale=args["scale"])
        assert not cache.any() and not scale.any()
    cache.flags.writeable = False
    with pytest.raises(ValueError, match="cache must be writable"):
        attnrt.cache_write(src, cache, slots, scale=scale)


@pytest.mark.parametrize("fmt", ["int8", "fp8_e4m3"])
def test_torch_tensors(fmt):
    """torch bf16 rows into a torch code pool (torch.float8_e4m3fn through
    DLPack or as uint8, by torch's version), read back by attention."""
    torch = pytest.importorskip("torch")
    dtype = {"int8": torch.int8, "fp8_e4m3": torch.float8_e4m3fn}[fmt]
    src = torch.randn(2, 2, 3, 16, generator=torch.Generator().manual_seed(8)).to(torch.bfloat16)
    cache = torch.zeros(4, 2, 2, 16, dtype=dtype)
    scale = torch.zeros(4, 2, 2, 1)
    slots = torch.tensor([0, 1, 2, 5, 6, 7])
    attnrt.cache_write(src, cache, slots, scale=scale)
    for t, slot in enumerate(slots.tolist()):
        row = src[t // 3, :, t % 3].float().numpy()
        s = scale[slot // 2, :, slot % 2, 0].numpy()
        np.testing.assert_array_equal(s, np.abs(row).max(axis=1).astype(np.float32) / np.float32(TOP[fmt]))
        want = encode(row / s[:, None], fmt).view(np.uint8)
        np.testing.assert_array_equal(cache[slot // 2, :, slot % 2].view(torch.uint8).numpy(), want)


def test_runtime_workers_write_the_same_bytes():
    """A write big enough to split by page among a runtime's two workers: the
    calling thread's bytes and scales, a slot named twice keeping the later token."""
    rng = np.random.default_rng(5)
    pages, heads, page, dim, tokens = 40, 4, 16, 64, 512
    src = rng.standard_normal((1, heads, tokens, dim)).astype(np.float32)
    slots = rng.permutation(pages * page)[:tokens].astype(np.int64)
    slots[2] = slots[1]
    outs = []
    for runtime in (None, attnrt.Runtime(threads=2)):
        cache = pool("int8", pages, heads, page, dim, "bhsd")
        scale = np.full(cache.shape[:-1] + (1,), np.nan, np.float32)
        attnrt.cache_write(src, cache, slots, scale=scale, runtime=runtime)
        outs.append((cache, scale))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1].view(np.uint32), outs[1][1].view(np.uint32))
    at = (slots[1] // page, slice(None), slots[1] % page)
    s = np.abs(src[0, :, 2]).max(axis=-1) / np.float32(127)
    np.testing.assert_array_equal(outs[1][0][at], encode(src[0, :, 2] / s[:, None], "int8"))
    with pytest.raises(TypeError, match="runtime"):
        attnrt.cache_write(src, outs[0][0], slots, scale=outs[0][1], runtime=2)
