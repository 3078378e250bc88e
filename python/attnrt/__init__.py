"""attnrt: multi-core CPU attention for numpy, DLPack and PyTorch callers.

    out = attnrt.attention(q, k, v, causal=True)

Arrays are read in place (DLPack or the buffer protocol: numpy, PyTorch, JAX, ...)
as [batch, heads, seq, head_dim] (layout="bhsd") or [batch, seq, heads,
head_dim] (layout="bshd"), with any strides but a contiguous head_dim.
docs/python.md in the repository has the whole story.
"""

from __future__ import annotations

import numbers
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from ._attnrt import Runtime, __version__
from ._attnrt import cache_write as _cache_write
from ._attnrt import forward as _forward
from ._attnrt import jax_view as _jax_view

__all__ = ["attention", "cache_write", "Runtime", "__version__"]

try:  # numpy's bfloat16 and fp8 (ml_dtypes) are optional
    from ml_dtypes import bfloat16 as _np_bf16
    from ml_dtypes import float8_e4m3fn as _np_e4m3, float8_e5m2 as _np_e5m2
except ImportError:  # pragma: no cover - depends on the environment
    _np_bf16 = _np_e4m3 = _np_e5m2 = None

# kv_format of uint8 codes: the OCP fp8 formats (torch.float8_e4m3fn, ...).
_KV_FORMATS = ("fp8_e4m3", "fp8_e5m2")
# fp8 arrays numpy can't hand over (no DLPack, no buffer format): as uint8.
_NP_FP8 = {} if _np_e4m3 is None else {np.dtype(_np_e4m3): "fp8_e4m3", np.dtype(_np_e5m2): "fp8_e5m2"}

_LAYOUTS = ("bhsd", "bshd")
_ALIGNS = ("bottom_right", "top_left")
# The per-sequence and per-head inputs, in _forward's order: dtype and name.
_EXTRAS = ((np.int64, "kv_lens"), (np.float32, "alibi_slopes"), (np.float32, "sinks"),
           (np.int32, "cu_seqlens_q"), (np.int32, "cu_seqlens_k"), (np.int32, "block_table"))


def _is_torch(x: Any) -> bool:
    return type(x).__module__ == "torch"


def _is_jax(x: Any) -> bool:
    """A JAX array (jaxlib's ArrayImpl) or a tracer inside jax.jit and friends."""
    return type(x).__module__.startswith(("jaxlib", "jax."))


def _check_jax(q: Any, k: Any, v: Any, out: Any, lse: Any) -> None:
    """Refuse JAX tracers (attnrt needs values, which jit tracing lacks) and
    JAX outputs (JAX arrays are immutable)."""
    import jax

    for name, x in (("q", q), ("k", k), ("v", v)):
        if isinstance(x, jax.core.Tracer):
            raise TypeError(f"{name} is a JAX tracer ({type(x).__name__}): attnrt.attention "
                            "reads concrete arrays, so call it outside jax.jit/vmap/grad "
                            "(or through jax.pure_callback)")
    for name, x in (("out", out), ("lse", lse)):
        if _is_jax(x):
            raise ValueError(f"{name} cannot be a JAX array (JAX arrays are immutable); "
                             f"leave {name} unset to get a new JAX array")


def _aligned_empty(shape: Tuple[int, ...], dtype: Any) -> np.ndarray:
    """numpy memory on a 64-byte boundary: what JAX takes over without a copy."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start:start + size].view(dtype).reshape(shape)


def _empty(like: Any, shape: Tuple[int, ...], float32: bool = False) -> Any:
    """An uninitialised array of like's kind (numpy or torch) and dtype; for
    JAX, numpy memory that _jax_view turns into a JAX array afterwards."""
    if _is_torch(like):
        import torch

        return torch.empty(shape, dtype=torch.float32 if float32 else like.dtype)
    if _is_jax(like):
        return _aligned_empty(shape, np.float32 if float32 else like.dtype)
    if float32:
        return np.empty(shape, np.float32)
    # A buffer-protocol object (memoryview, ...) has no dtype: numpy reads its format.
    return np.empty(shape, like.dtype if hasattr(like, "dtype") else np.asarray(like).dtype)


def _small(x: Any, dtype: Any, name: str) -> Optional[np.ndarray]:
    """A small per-sequence or per-head vector (or the block table) as a
    contiguous numpy array of dtype; integers must fit it, not wrap."""
    if x is None:
        return None
    a = np.ascontiguousarray(x.detach().numpy() if _is_torch(x) else x)
    dtype = np.dtype(dtype)
    if a.dtype.kind not in "iuf" or (dtype.kind == "i" and a.dtype.kind == "f"):
        raise ValueError(f"{name}.dtype ({a.dtype}) must be {dtype.name}")
    if name != "block_table" and a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if dtype.kind == "i" and a.size:
        lo, hi, info = int(a.min()), int(a.max()), np.iinfo(dtype)
        if lo < info.min or hi > info.max:
            bad = lo if lo < info.min else hi
            raise ValueError(f"{name} holds {bad}, outside {dtype.name}'s [{info.min}, {info.max}]")
    return a.astype(dtype, copy=False)


def _flag(x: Any, name: str) -> bool:
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} ({x!r}) must be a bool")
    return bool(x)


def _real(x: Any, name: str) -> float:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} ({x!r}) must be a real number")
    return float(x)


def _scale(scale: Any) -> float:
    """The C API's scale: 0 there means 1/sqrt(head_dim), so a scale that is
    0 in float32 is refused rather than silently replaced."""
    if scale is None:
        return 0.0
    s = _real(scale, "scale")
    if np.float32(s) == 0:
        raise ValueError(f"scale ({scale!r}) must not be 0 in float32 (None is 1/sqrt(head_dim))")
    return s


def _window(window: Any) -> Tuple[int, int]:
    if window is None:
        return -1, -1
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        raise TypeError(f"window ({window!r}) must be a (left, right) pair of ints or None")
    sides = []
    for side, w in zip(("left", "right"), window):
        if isinstance(w, (bool, np.bool_)) or not isinstance(w, numbers.Integral):
            raise TypeError(f"window's {side} ({w!r}) must be an int")
        if not -2**63 <= int(w) < 2**63:
            raise ValueError(f"window's {side} ({w}) must fit in int64")
        sides.append(int(w))
    return sides[0], sides[1]


def _u16(x: Any) -> Any:
    """numpy bfloat16 viewed as uint16: neither DLPack nor buffers know it."""
    return x.view(np.uint16) if isinstance(x, np.ndarray) and x.dtype == _np_bf16 else x


def _torch_fp8_formats() -> dict:
    """torch's fp8 dtypes that DLPack can't export (older torch): to view as uint8."""
    global _TORCH_FP8
    if _TORCH_FP8 is None:
        import torch

        _TORCH_FP8 = {}
        for name, fmt in (("float8_e4m3fn", "fp8_e4m3"), ("float8_e5m2", "fp8_e5m2")):
            dtype = getattr(torch, name, None)
            try:
                if dtype is not None:
                    torch.empty(1, dtype=dtype).__dlpack__()
            except Exception:  # BufferError, RuntimeError, ... by version
                _TORCH_FP8[dtype] = fmt
    return _TORCH_FP8


_TORCH_FP8: Optional[dict] = None


def _codes(x: Any, kv_format: Optional[str], name: str) -> Tuple[Any, Optional[str]]:
    """fp8 k or v that must travel as uint8 codes, and the format they hold."""
    if isinstance(x, np.ndarray):
        fmt, as_u8 = _NP_FP8.get(x.dtype), lambda: x.view(np.uint8)
    elif _is_torch(x) and x.element_size() == 1:
        import torch

        fmt, as_u8 = _torch_fp8_formats().get(x.dtype), lambda: x.view(torch.uint8)
    else:
        return x, kv_format
    if fmt is None:
        return x, kv_format
    if kv_format not in (None, fmt):
        raise ValueError(f"{name}.dtype ({x.dtype}) holds {fmt} codes, but kv_format is {kv_format!r}")
    return as_u8(), fmt


def attention(
    q: Any,
    k: Any,
    v: Any,
    *,
    causal: bool = False,
    causal_align: str = "bottom_right",
    scale: Optional[float] = None,
    window: Optional[Tuple[int, int]] = None,
    kv_lens: Optional[Sequence[int]] = None,
    bias: Any = None,
    softcap: float = 0.0,
    alibi_slopes: Any = None,
    sinks: Any = None,
    cu_seqlens_q: Any = None,
    cu_seqlens_k: Any = None,
    block_table: Any = None,
    k_scale: Any = None,
    v_scale: Any = None,
    kv_format: Optional[str] = None,
    lse: Union[bool, Any] = False,
    precision: str = "accurate",
    strategy: str = "auto",
    layout: str = "bhsd",
    out: Any = None,
    runtime: Optional[Runtime] = None,
) -> Any:
    """O = softmax(Q·Kᵀ·scale (+ softcap) + bias + mask) · V, without copying inputs.

    q, k, v: float32, float16 or bfloat16 arrays (numpy, ml_dtypes.bfloat16,
        torch, JAX, or anything with DLPack or the buffer protocol), 4-D
        [B, H, S, D] (layout="bhsd") or [B, S, H, D] (layout="bshd"), or 3-D
        without the batch. Any strides; head_dim contiguous. k and v may
        have fewer heads than q (grouped-query attention), and may be a
        quantized KV cache: int8 or fp8 codes (both of one format) with
        k_scale and v_scale.
    causal: mask keys after the query; causal_align "bottom_right" (query i
        of M sees keys j <= i + N - M, FlashAttention's) or "top_left"
        (j <= i, torch SDPA's).
    scale: score scale; None is 1/sqrt(head_dim).
    window: (left, right) keys a query sees around the diagonal, -1 unbounded.
    kv_lens: [B] keys used per sequence (each <= N); required when paged.
    bias: float32 [1|B, 1|H, M, N] added to the scores; -inf masks.
    softcap: s = softcap * tanh(s / softcap) when > 0.
    alibi_slopes, sinks: float32 [H]: ALiBi slopes; one sink logit per head.
    cu_seqlens_q, cu_seqlens_k: int32 [num_seqs + 1] row offsets of a
        packed variable-length batch (q, k, v then have batch 1).
    block_table: int32 [B, pages per sequence]: k and v are paged KV pools
        [num_pages, Hkv, page_size, D] (in the layout's order) and kv_lens
        gives each sequence's length.
    k_scale, v_scale: float32 scales of int8/fp8 k and v (value = code *
        scale): shaped like k / v with head_dim 1, in the same layout; a
        size-1 dimension is broadcast ([1, Hkv, 1, 1] is one per KV head,
        [1, 1, 1, 1] one for all). Required with quantized k and v, refused
        otherwise.
    kv_format: "fp8_e4m3" or "fp8_e5m2" when k and v are uint8 arrays of
        OCP fp8 codes; not needed for int8, torch.float8_e4m3fn /
        float8_e5m2 or ml_dtypes.float8_e4m3fn / float8_e5m2 arrays.
    lse: True returns (out, lse) with lse float32 [B, H, M], the natural-log
        sum of exp (-inf for empty rows); or a float32 array to write it into.
    precision: "accurate" or "fast" exp2; strategy: "auto", "online",
        "two_pass" or "three_pass".
    out: where to write O (q's shape and layout, v's head_dim); else allocated, of
        q's kind (a torch tensor for torch inputs, a JAX array for JAX inputs,
        numpy otherwise). JAX arrays are immutable, so out cannot be one.
    runtime: an attnrt.Runtime; None is the process-wide default runtime.

    Returns out, or (out, lse) when lse is True. Raises ValueError (bad
    argument) or NotImplementedError (no kernel runs it) with attnrt's
    message. Releases the GIL while it runs.
    """
    if layout not in _LAYOUTS:
        raise ValueError(f"layout ({layout!r}) must be 'bhsd' or 'bshd'")
    if causal_align not in _ALIGNS:
        raise ValueError(f"causal_align ({causal_align!r}) must be 'bottom_right' or 'top_left'")
    if kv_format not in (None,) + _KV_FORMATS:
        raise ValueError(f"kv_format ({kv_format!r}) must be 'fp8_e4m3', 'fp8_e5m2' or None")
    causal, softcap, scale, (wl, wr) = _flag(causal, "causal"), _real(softcap, "softcap"), _scale(scale), _window(window)
    for name, x in (("precision", precision), ("strategy", strategy)):
        if not isinstance(x, str):
            raise TypeError(f"{name} ({x!r}) must be a str")
    if isinstance(lse, (bool, np.bool_)):
        lse = bool(lse)
    elif isinstance(lse, numbers.Number):
        raise TypeError(f"lse ({lse!r}) must be True, False or a float32 array")
    if runtime is not None and not isinstance(runtime, Runtime):
        raise TypeError(f"runtime ({type(runtime).__name__}) must be an attnrt.Runtime or None")
    torch_in = type(q).__module__ == "torch"
    if torch_in:  # DLPack refuses tensors that require grad; no backward here
        q, k, v = q.detach(), k.detach(), v.detach()
        k_scale, v_scale = (s.detach() if _is_torch(s) else s for s in (k_scale, v_scale))
    # torch's lazy negation (neg bit: _neg_view, conj().imag) is not in the
    # memory DLPack hands over: inputs are resolved (a copy), out refused.
    q, k, v, bias, k_scale, v_scale = (x.resolve_neg() if _is_torch(x) and x.is_neg() else x
                                       for x in (q, k, v, bias, k_scale, v_scale))
    for name, x in (("out", out), ("lse", lse)):
        if _is_torch(x) and x.is_neg():
            raise ValueError(f"{name} is a negated view (torch's neg bit): attnrt cannot write through it")
    for name, x in (("out", out), ("lse", lse)):
        if isinstance(x, np.ndarray) and not x.flags.writeable:
            raise ValueError(f"{name} must be writable (it is a read-only numpy array)")
    jax_in = _is_jax(q)
    if jax_in or (out is not None and _is_jax(out)):
        _check_jax(q, k, v, out, lse)
    k0, v0 = k, v
    k, kv_format = _codes(k, kv_format, "k")
    v, v_format = _codes(v, kv_format, "v")
    if v_format != kv_format or (k is k0) != (v is v0):  # one fp8 array (ml_dtypes), one of another type
        raise ValueError(f"v.dtype ({v0.dtype}) must equal k.dtype ({k0.dtype})")
    # numpy bfloat16 travels as uint16; so does out for bfloat16 JAX inputs.
    bf16 = q.dtype == _np_bf16 if isinstance(q, np.ndarray) or jax_in else False
    if bf16:  # all travel as uint16 then: a uint16 array must not pass for bfloat16
        for name, x in (("k", k), ("v", v), ("out", out)):
            if getattr(x, "dtype", None) == np.uint16:
                raise ValueError(f"{name}.dtype (uint16) must equal q.dtype (bfloat16)")
    out_given = out
    try:
        if out is None:
            out = _empty(q, tuple(q.shape[:-1]) + (v.shape[-1],))
        lse_out = None
        if lse is True:
            shape = tuple(q.shape[:-1])
            if layout == "bshd":  # [.., S, H] -> [.., H, S]
                shape = shape[:-2] + (shape[-1], shape[-2])
            lse_out = _empty(q, shape, float32=True)
        elif lse is not False:
            lse_out = lse
        # The extras are None on the common path: no call for them then.
        extras = (kv_lens, alibi_slopes, sinks, cu_seqlens_q, cu_seqlens_k, block_table)
        if not (kv_lens is None and alibi_slopes is None and sinks is None
                and cu_seqlens_q is None and cu_seqlens_k is None and block_table is None):
            extras = tuple(_small(x, t, n) for x, (t, n) in zip(extras, _EXTRAS))
        _forward(
            _u16(q) if bf16 else q,
            _u16(k) if bf16 else k,
            _u16(v) if bf16 else v,
            _u16(out) if bf16 else out,
            runtime,
            layout == "bshd",
            bf16,
            scale,
            causal,
            causal_align == "top_left",
            wl,
            wr,
            softcap,
            precision,
            strategy,
            lse_out,
            bias,
            *extras,
            k_scale,
            v_scale,
            kv_format or "",
        )
    except (TypeError, AttributeError):
        if any(_is_jax(x) for x in (k, v)):  # a JAX tracer among numpy arrays
            _check_jax(q, k, v, out, lse)
        scales = tuple((n, x) for n, x in (("k_scale", k_scale), ("v_scale", v_scale)) if x is not None)
        for name, x in (("q", q), ("k", k), ("v", v), ("out", out)) + scales:
            if not hasattr(x, "shape"):
                raise TypeError(f"{name} ({type(x).__name__}) must be an array with DLPack or "
                                "the buffer protocol (numpy, torch, ...)") from None
        raise
    if jax_in:  # hand the numpy memory attnrt allocated over to JAX
        if out_given is None:
            out = _jax_view(_u16(out), bf16)
        if lse is True:
            lse_out = _jax_view(lse_out, False)
    return (out, lse_out) if lse is True else out


def cache_write(
    src: Any,
    cache: Any,
    slots: Any,
    *,
    scale: Any = None,
    kv_format: Optional[str] = None,
    layout: str = "bhsd",
    runtime: Optional[Runtime] = None,
) -> None:
    """Stores new K (or V) rows into a KV cache in place, as a server appends
    the tokens of each step; quantizes them when the cache holds codes.

    src: float32, float16 or bfloat16 [B, Hkv, M, D] (layout="bhsd") or
        [B, M, Hkv, D] ("bshd"), or 3-D without the batch; token t = b * M + m.
    cache: a page pool [num_pages, Hkv, page_size, D] (in the layout's
        order, as attention's block_table reads it) or a dense cache; float32,
        float16, bfloat16, int8 or fp8 codes (kv_format as for attention).
    slots: int64 [B * M]: token t goes to row slots[t] % page_size of page
        slots[t] // page_size; a negative slot skips the token, a slot named
        twice keeps the later token.
    scale: float32, required for codes, refused otherwise: shaped like cache
        with head_dim 1 (per token: written, each row's largest magnitude
        mapped to 127, 448 or 57344) or [1, Hkv or 1, 1, 1] (per KV head:
        read). Codes are the nearest, ties to even, saturated; src must then
        be finite.
    runtime: an attnrt.Runtime whose workers write (split by page: the same
        bytes); None writes on the calling thread.

    Raises ValueError naming the argument and rule; writes nothing then.
    Releases the GIL while it runs.
    """
    if runtime is not None and not isinstance(runtime, Runtime):
        raise TypeError(f"runtime ({type(runtime).__name__}) must be an attnrt.Runtime or None")
    if layout not in _LAYOUTS:
        raise ValueError(f"layout ({layout!r}) must be 'bhsd' or 'bshd'")
    if kv_format not in (None,) + _KV_FORMATS:
        raise ValueError(f"kv_format ({kv_format!r}) must be 'fp8_e4m3', 'fp8_e5m2' or None")
    if _is_torch(src):  # DLPack refuses tensors that require grad
        src = src.detach()
    for name, x in (("cache", cache), ("scale", scale)):
        if isinstance(x, np.ndarray) and not x.flags.writeable:
            raise ValueError(f"{name} must be writable (it is a read-only numpy array)")
        if _is_jax(x):
            raise ValueError(f"{name} cannot be a JAX array (JAX arrays are immutable)")
    cache, kv_format = _codes(cache, kv_format, "cache")
    src_bf16 = isinstance(src, np.ndarray) and src.dtype == _np_bf16
    cache_bf16 = isinstance(cache, np.ndarray) and cache.dtype == _np_bf16
    slots = _small(slots, np.int64, "slots")
    try:
        _cache_write(_u16(src), _u16(cache), slots, scale, layout == "bshd", src_bf16, cache_bf16,
                     kv_format or "", runtime)
    except (TypeError, AttributeError):
        for name, x in (("src", src), ("cache", cache), ("scale", scale)):
            if x is not None and not hasattr(x, "shape"):
                raise TypeError(f"{name} ({type(x).__name__}) must be an array with DLPack or "
                                "the buffer protocol (numpy, torch, ...)") from None
        raise
