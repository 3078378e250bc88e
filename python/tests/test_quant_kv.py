"""Quantized K/V through Python: int8 and fp8 (E4M3, E5M2) codes with fp32
k_scale / v_scale, against the float64 reference on the dequantized K/V
(code * scale), and the error paths."""

import re

import ml_dtypes
import numpy as np
import pytest

import attnrt
import reference
from conftest import DTYPES, LSE_TOLERANCE, TOLERANCE, f64, rand

FORMATS = ("int8", "fp8_e4m3", "fp8_e5m2")
NP_FP8 = {"fp8_e4m3": ml_dtypes.float8_e4m3fn, "fp8_e5m2": ml_dtypes.float8_e5m2}


def codes(rng, shape, fmt):
    """Random codes of fmt: int8 over its range, fp8 rounded from N(0, 1)."""
    if fmt == "int8":
        return rng.integers(-127, 128, shape).astype(np.int8)
    return rng.standard_normal(shape).astype(NP_FP8[fmt])


def scales(rng, shape, fmt):
    """Positive fp32 scales spread over 8x, so a scale applied to the wrong
    row or head shows; int8's bring its codes to about N(0, 1)'s range."""
    base = 1 / 64 if fmt == "int8" else 1.0
    return (base * rng.uniform(0.25, 2.0, shape)).astype(np.float32)


def dequant(c, s):
    return f64(c) * f64(s)


def check(out, lse, q, k, v, dtype, **kw):
    """out and lse against the float64 reference on dequantized k and v (at
    full precision) and on the same rounded to q's dtype, whichever is
    closer: attnrt.h promises q's dtype's precision or better (the avx512
    set reads int8 in place in fp32; staged rows are rounded to q's dtype)."""
    near = lambda x: f64(x.astype(np.float32).astype(DTYPES[dtype]))
    refs = [reference.attention(f64(q), kk, vv, **kw) for kk, vv in ((k, v), (near(k), near(v)))]
    want, want_lse = min(refs, key=lambda r: np.abs(f64(out) - r[0]).max())
    np.testing.assert_allclose(f64(out), want, atol=TOLERANCE[dtype], rtol=0)
    if lse is not None:
        np.testing.assert_allclose(lse, want_lse, atol=LSE_TOLERANCE[dtype], rtol=1e-5)


def quant_kv(rng, shape, fmt, per_head=False):
    """(k, v, k_scale, v_scale) in BHSD, scales per token and head or per head."""
    B, H, N, _ = shape
    sshape = (1, H, 1, 1) if per_head else (B, H, N, 1)
    return codes(rng, shape, fmt), codes(rng, shape, fmt), scales(rng, sshape, fmt), scales(rng, sshape, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("per_head", [False, True], ids=["per_token", "per_head"])
@pytest.mark.parametrize("m, n", [(1, 70), (37, 53)], ids=["decode", "prefill"])
def test_matches_dequantized_reference(rng, fmt, dtype, per_head, m, n):
    # GQA (4 query heads on 2 KV heads), causal bottom-right.
    q = rand(rng, (2, 4, m, 64), dtype)
    k, v, ks, vs = quant_kv(rng, (2, 2, n, 64), fmt, per_head)
    out, lse = attnrt.attention(q, k, v, k_scale=ks, v_scale=vs, causal=True, lse=True)
    assert out.dtype == q.dtype and out.shape == q.shape
    check(out, lse, q, dequant(k, ks), dequant(v, vs), dtype, causal=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_bshd_per_tensor_and_broadcast_views(rng, fmt):
    # [B, S, H, D] arrays; k's scale one per KV head ([1, 1, Hkv, 1] in
    # bshd), v's one for the whole tensor, as a stride-0 numpy broadcast.
    q = rand(rng, (2, 9, 6, 32))
    k, v = codes(rng, (2, 40, 3, 32), fmt), codes(rng, (2, 40, 3, 32), fmt)
    ks = scales(rng, (1, 1, 3, 1), fmt)
    vs = np.broadcast_to(scales(rng, (1, 1, 1, 1), fmt), (2, 40, 3, 1))
    out = attnrt.attention(q, k, v, k_scale=ks, v_scale=vs, layout="bshd", window=(11, 2))
    t = lambda x: x.transpose(0, 2, 1, 3)
    want, _ = reference.attention(t(f64(q)), t(dequant(k, ks)), t(dequant(v, vs)), window=(11, 2))
    np.testing.assert_allclose(t(out), want, atol=2e-5, rtol=0)


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2"])
def test_uint8_codes_with_kv_format(rng, fmt):
    # The same bytes as ml_dtypes fp8 or as uint8 with kv_format: one result.
    q = rand(rng, (1, 2, 7, 32))
    k, v, ks, vs = quant_kv(rng, (1, 2, 19, 32), fmt)
    got = attnrt.attention(q, k.view(np.uint8), v.view(np.uint8), k_scale=ks, v_scale=vs, kv_format=fmt)
    np.testing.assert_array_equal(got, attnrt.attention(q, k, v, k_scale=ks, v_scale=vs))
    want, _ = reference.attention(q, dequant(k, ks), dequant(v, vs))
    np.testing.assert_allclose(got, want, atol=2e-5, rtol=0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_paged_token_major_scale_pool(rng, fmt):
    # int8/fp8 page pools [pages, Hkv, P, D] with their scales in one
    # token-major pool [pages, P, Hkv] seen as [pages, Hkv, P, 1]: a view.
    B, H, Hkv, D, P = 3, 4, 2, 32, 16
    kv_lens = np.array([37, 5, 16])
    per_seq = -(-int(kv_lens.max()) // P)
    pages = B * per_seq + 2
    k_pool, v_pool = codes(rng, (pages, Hkv, P, D), fmt), codes(rng, (pages, Hkv, P, D), fmt)
    ks_pool, vs_pool = scales(rng, (pages, P, Hkv), fmt), scales(rng, (pages, P, Hkv), fmt)
    ks, vs = (s.transpose(0, 2, 1)[..., None] for s in (ks_pool, vs_pool))
    table = rng.permutation(pages)[: B * per_seq].reshape(B, per_seq).astype(np.int32)
    q = rand(rng, (B, H, 2, D), "bfloat16")
    out = attnrt.attention(q, k_pool, v_pool, k_scale=ks, v_scale=vs, causal=True, block_table=table,
                           kv_lens=kv_lens)
    j = np.arange(per_seq * P)
    dense = lambda pool: pool[table[:, j // P], :, j % P].transpose(0, 2, 1, 3)
    check(out, None, q, dense(dequant(k_pool, ks)), dense(dequant(v_pool, vs)), "bfloat16", causal=True,
          kv_lens=kv_lens)


def test_varlen_packed_int8(rng):
    # FlashAttention's varlen: [total, Hkv, D] int8 codes, [total, Hkv, 1] scales.
    lens_q, lens_k = [5, 1, 12], [9, 30, 12]
    cu_q = np.concatenate([[0], np.cumsum(lens_q)]).astype(np.int32)
    cu_k = np.concatenate([[0], np.cumsum(lens_k)]).astype(np.int32)
    q = rand(rng, (cu_q[-1], 4, 64), "float16")
    k, v = codes(rng, (cu_k[-1], 2, 64), "int8"), codes(rng, (cu_k[-1], 2, 64), "int8")
    ks, vs = scales(rng, (cu_k[-1], 2, 1), "int8"), scales(rng, (cu_k[-1], 2, 1), "int8")
    out = attnrt.attention(q, k, v, k_scale=ks, v_scale=vs, layout="bshd", causal=True, cu_seqlens_q=cu_q,
                           cu_seqlens_k=cu_k)
    for s in range(3):
        rows, keys = slice(cu_q[s], cu_q[s + 1]), slice(cu_k[s], cu_k[s + 1])
        t = lambda x, r: f64(x)[r].transpose(1, 0, 2)[None]
        check(t(out, rows), None, t(q, rows), t(dequant(k, ks), keys), t(dequant(v, vs), keys), "float16",
              causal=True)


@pytest.mark.parametrize("isa", ["generic", ""], ids=["generic", "default"])
def test_runtime_kernel_sets_and_in_place_reads(rng, isa):
    # generic stages dequantized rows; avx512 (the default here, if the CPU
    # has it) reads int8 in place. Codes and scales are read where they lie:
    # changed between calls, the next call sees them.
    runtime = attnrt.Runtime(threads=2, isa=isa)
    q = rand(rng, (2, 8, 1, 64))
    k, v, ks, vs = quant_kv(rng, (2, 2, 300, 64), "int8")
    first = attnrt.attention(q, k, v, k_scale=ks, v_scale=vs, runtime=runtime)
    check(first, None, q, dequant(k, ks), dequant(v, vs), "float32")
    ks[:, :, 100:] *= 3
    v[:, :, 7] = -v[:, :, 7]
    second = attnrt.attention(q, k, v, k_scale=ks, v_scale=vs, runtime=runtime)
    check(second, None, q, dequant(k, ks), dequant(v, vs), "float32")
    assert not np.allclose(first, second, atol=1e-3)


rng0 = np.random.default_rng(7)
Q = rand(rng0, (1, 4, 8, 32))
K8, V8 = codes(rng0, (1, 2, 9, 32), "int8"), codes(rng0, (1, 2, 9, 32), "int8")
S = scales(rng0, (1, 2, 9, 1), "int8")
E4M3 = codes(rng0, (1, 2, 9, 32), "fp8_e4m3")

# (arguments over q=Q, k=K8, v=V8, k_scale=S, v_scale=S; attnrt's or the binding's message)
ERRORS = {
    "missing k_scale": (dict(k_scale=None), "params.k_scale must not be NULL with k.dtype int8"),
    "missing v_scale": (dict(v_scale=None), "params.v_scale must not be NULL with v.dtype int8"),
    "scale head_dim": (dict(k_scale=np.ones((1, 2, 9, 2), np.float32)),
                       "params.k_scale.head_dim (2) must equal 1"),
    "scale seq": (dict(v_scale=S[:, :, :4]), "params.v_scale.seq (4) must be 1 (broadcast) or v.seq (9)"),
    "scale heads": (dict(k_scale=np.ones((1, 4, 9, 1), np.float32)),
                    "params.k_scale.heads (4) must be 1 (broadcast) or k.heads (2)"),
    "scale dtype": (dict(k_scale=S.astype(np.float64)), "k_scale.dtype (float64) must be float32"),
    "scale, plain k": (dict(k=Q[:, :2, :5], v=Q[:, :2, :5], v_scale=None),
                       "params.k_scale must be NULL unless k and v are quantized (k.dtype is fp32)"),
    "quantized q": (dict(q=K8), "q.dtype (int8) must be ATTNRT_F32, ATTNRT_F16 or ATTNRT_BF16: "
                                "only k and v may be quantized"),
    "quantized out": (dict(out=np.zeros(Q.shape, np.int8)), "o.dtype (int8) must be ATTNRT_F32, ATTNRT_F16"),
    "k, v formats": (dict(v=E4M3), "v.dtype (float8_e4m3fn) must equal k.dtype (int8)"),
    "v, k formats": (dict(k=E4M3), "v.dtype (int8) must equal k.dtype (float8_e4m3fn)"),
    "uint8 alone": (dict(k=K8.view(np.uint8), v=K8.view(np.uint8)),
                    "k.dtype (uint8) must be float32, float16 or bfloat16, or int8, float8_e4m3fn or "
                    "float8_e5m2 codes (uint8 codes need kv_format='fp8_e4m3' or 'fp8_e5m2')"),
    "kv_format name": (dict(kv_format="int4"), "kv_format ('int4') must be 'fp8_e4m3', 'fp8_e5m2' or None"),
    "kv_format, int8": (dict(kv_format="fp8_e5m2"),
                        "kv_format ('fp8_e5m2') names the fp8 codes of uint8 k and v, but k.dtype is int8"),
    "kv_format, fp8": (dict(k=E4M3, v=E4M3, kv_format="fp8_e5m2"),
                       "k.dtype (float8_e4m3fn) holds fp8_e4m3 codes, but kv_format is 'fp8_e5m2'"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_quant_error(case):
    kwargs, message = ERRORS[case]
    args = dict(q=Q, k=K8, v=V8, k_scale=S, v_scale=S)
    args.update(kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        attnrt.attention(args.pop("q"), args.pop("k"), args.pop("v"), **args)


def test_scale_not_an_array():
    with pytest.raises(TypeError, match=re.escape("k_scale (list) must be an array with DLPack")):
        attnrt.attention(Q, K8, V8, k_scale=[1.0], v_scale=S)


try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
VERSION = (0, 0) if torch is None else tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
needs_op = pytest.mark.skipif(VERSION < (2, 4), reason="PyTorch is not installed" if torch is None else
                              f"torch {torch.__version__} < 2.4: no torch.library.custom_op")
TORCH_CODES = {"int8": "int8", "fp8_e4m3": "float8_e4m3fn", "fp8_e5m2": "float8_e5m2"}


def tensor(c, fmt):
    """numpy codes as a torch tensor of fmt's own dtype (the same bytes)."""
    return torch.from_numpy(c.view(np.int8 if fmt == "int8" else np.uint8)).view(getattr(torch, TORCH_CODES[fmt]))


def torch_case(rng, fmt, m=6):
    q = torch.from_numpy(rand(rng, (2, 4, m, 32))).to(torch.bfloat16)
    k, v, ks, vs = quant_kv(rng, (2, 2, 21, 32), fmt)
    return q, tensor(k, fmt), tensor(v, fmt), torch.from_numpy(ks), torch.from_numpy(vs), (k, v, ks, vs)


@needs_torch
@pytest.mark.parametrize("fmt", FORMATS)
def test_torch_tensors_of_code_dtypes(rng, fmt):
    if not hasattr(torch, TORCH_CODES[fmt]):
        pytest.skip(f"torch {torch.__version__} has no {TORCH_CODES[fmt]}")
    q, k, v, ks, vs, (kn, vn, ksn, vsn) = torch_case(rng, fmt)
    out = attnrt.attention(q, k, v, k_scale=ks, v_scale=vs, causal=True)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.bfloat16 and out.shape == q.shape
    check(out, None, q, dequant(kn, ksn), dequant(vn, vsn), "bfloat16", causal=True)


@needs_torch
@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2"])
def test_torch_fp8_without_dlpack_export(rng, monkeypatch, fmt):
    # A torch whose DLPack can't export fp8: attnrt views the tensors as uint8.
    if not hasattr(torch, TORCH_CODES[fmt]):
        pytest.skip(f"torch {torch.__version__} has no {TORCH_CODES[fmt]}")
    q, k, v, ks, vs, _ = torch_case(rng, fmt)
    native = attnrt.attention(q, k, v, k_scale=ks, v_scale=vs)
    monkeypatch.setattr(attnrt, "_TORCH_FP8", {k.dtype: fmt})
    assert torch.equal(attnrt.attention(q, k, v, k_scale=ks, v_scale=vs), native)
    other = "fp8_e5m2" if fmt == "fp8_e4m3" else "fp8_e4m3"  # Python's check, so the uint8 path ran
    with pytest.raises(ValueError, match=re.escape(f"holds {fmt} codes, but kv_format is '{other}'")):
        attnrt.attention(q, k, v, k_scale=ks, v_scale=vs, kv_format=other)


@needs_op
def test_custom_op_int8_opcheck_and_compile(rng):
    import attnrt.torch  # noqa: F401  registers torch.ops.attnrt.attention
    q, k, v, ks, vs, (kn, vn, ksn, vsn) = torch_case(rng, "int8")
    torch.library.opcheck(torch.ops.attnrt.attention.default, (q, k, v, True), dict(k_scale=ks, v_scale=vs))
    got = torch.ops.attnrt.attention(q, k, v, causal=True, k_scale=ks, v_scale=vs)
    check(got, None, q, dequant(kn, ksn), dequant(vn, vsn), "bfloat16", causal=True)

    def f(q, k, v, ks, vs):
        return torch.ops.attnrt.attention(q * 2, k, v, causal=True, k_scale=ks, v_scale=vs * 0.5)

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(q, k, v, ks, vs), f(q, k, v, ks, vs))
    with pytest.raises(ValueError, match=re.escape("params.v_scale must not be NULL with v.dtype int8")):
        torch.ops.attnrt.attention(q, k, v, k_scale=ks)


@needs_op
def test_sdpa_int8_and_3d(rng):
    import attnrt.torch as at
    q, k, v, ks, vs, (kn, vn, ksn, vsn) = torch_case(rng, "int8", m=9)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    kx, vx = (torch.from_numpy(dequant(c, s)).float().repeat_interleave(2, 1) for c, s in ((kn, ksn), (vn, vsn)))
    want = sdpa(q.float(), kx, vx, is_causal=True, scale=0.2)  # top-left, as torch's
    got = at.sdpa(q, k, v, is_causal=True, scale=0.2, k_scale=ks, v_scale=vs)
    np.testing.assert_allclose(f64(got), f64(want), atol=TOLERANCE["bfloat16"], rtol=0)
    got3 = at.sdpa(q[:, 0], k[:, 0], v[:, 0], k_scale=ks[:, 0], v_scale=vs[:, 0])
    want3 = sdpa(q[:, 0].float(), kx[:, 0], vx[:, 0])
    np.testing.assert_allclose(f64(got3), f64(want3), atol=TOLERANCE["bfloat16"], rtol=0)
