"""attnrt for PyTorch: `torch.ops.attnrt.attention`, `torch.ops.attnrt.cache_write`
and a drop-in `sdpa`.

Importing this module registers the custom operators (torch >= 2.4, through
torch.library, with fake implementations so torch.compile traces them).
`sdpa` takes torch.nn.functional.scaled_dot_product_attention's arguments
and its top-left causal convention, so a model swaps one call. Forward only:
there is no backward.
"""

from __future__ import annotations

from typing import Optional

import torch

import attnrt

__all__ = ["sdpa", "cache_write", "HAS_CUSTOM_OP"]

HAS_CUSTOM_OP = hasattr(torch, "library") and hasattr(torch.library, "custom_op")


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
               top_left: bool = False, scale: Optional[float] = None,
               bias: Optional[torch.Tensor] = None, window_left: int = -1, window_right: int = -1,
               softcap: float = 0.0, kv_lens: Optional[torch.Tensor] = None,
               alibi_slopes: Optional[torch.Tensor] = None,
               sinks: Optional[torch.Tensor] = None, k_scale: Optional[torch.Tensor] = None,
               v_scale: Optional[torch.Tensor] = None, cu_seqlens_q: Optional[torch.Tensor] = None,
               cu_seqlens_k: Optional[torch.Tensor] = None,
               block_table: Optional[torch.Tensor] = None) -> torch.Tensor:
    return attnrt.attention(q, k, v, causal=causal, scale=scale, bias=bias,
                            causal_align="top_left" if top_left else "bottom_right",
                            window=(window_left, window_right), softcap=softcap, kv_lens=kv_lens,
                            alibi_slopes=alibi_slopes, sinks=sinks, k_scale=k_scale,
                            v_scale=v_scale, cu_seqlens_q=cu_seqlens_q, cu_seqlens_k=cu_seqlens_k,
                            block_table=block_table)


if HAS_CUSTOM_OP:
    # [B, H, S, D] tensors; bias float32 [1|B, 1|H, M, N]; kv_lens int64 [B];
    # alibi_slopes and sinks float32 [H]; k_scale, v_scale float32 [1|B,
    # 1|Hkv, 1|N, 1] for int8/fp8 k and v; cu_seqlens_q, cu_seqlens_k int32
    # [num_seqs + 1] (a packed batch: q, k, v of batch 1); block_table int32
    # [B, pages per sequence] over k, v pools [pages, Hkv, page_size, D], with
    # kv_lens (attnrt.attention has the details). New arguments go last,
    # with defaults: older callers keep working.
    _op = torch.library.custom_op("attnrt::attention", mutates_args=())(_attention)

    @_op.register_fake
    def _(q, k, v, *args, **kwargs):
        # q's dtype, not v's: k and v may be int8/fp8 codes (with scales).
        return q.new_empty(q.shape[:-1] + v.shape[-1:])

    _call = torch.ops.attnrt.attention
else:  # older torch: the same call without the operator (DLPack still serves)
    _call = _attention


def _cache_write(src: torch.Tensor, cache: torch.Tensor, slots: torch.Tensor,
                 scale: Optional[torch.Tensor] = None) -> None:
    attnrt.cache_write(src, cache, slots, scale=scale)


if HAS_CUSTOM_OP:
    # src [B, Hkv, M, D]; cache a pool [pages, Hkv, page_size, D] (float, int8
    # or fp8); slots int64 [B * M]; scale float32 like cache with head_dim 1
    # (written) or [1, Hkv|1, 1, 1] (read): attnrt.cache_write has the details.
    _write_op = torch.library.custom_op("attnrt::cache_write", mutates_args=("cache", "scale"))(_cache_write)

    @_write_op.register_fake
    def _(src, cache, slots, scale=None):
        return None

    cache_write = torch.ops.attnrt.cache_write
else:
    cache_write = _cache_write


def sdpa(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
         attn_mask: Optional[torch.Tensor] = None, dropout_p: float = 0.0, is_causal: bool = False,
         scale: Optional[float] = None, enable_gqa: bool = False, *,
         k_scale: Optional[torch.Tensor] = None,
         v_scale: Optional[torch.Tensor] = None) -> torch.Tensor:
    """torch.nn.functional.scaled_dot_product_attention on attnrt.

    query [N, H, L, E] (or [N, L, E]), key and value [N, Hkv, S, E]; key and
    value may have fewer heads (GQA, whatever enable_gqa says). is_causal
    is top-left, as torch's. attn_mask: bool (True takes part) or float
    (added), broadcastable to [N, H, L, S]. dropout_p must be 0. A row that
    sees no key gives zeros (torch gives NaN). attnrt's own: key and value
    may be int8 or fp8 codes with float32 k_scale, v_scale [N, Hkv, S, 1]
    (or [N, S, 1]; size-1 dimensions broadcast): value = code * scale.
    """
    if dropout_p != 0.0:
        raise ValueError(f"dropout_p ({dropout_p}) must be 0: attnrt runs inference only")
    three_d = query.dim() == 3
    if three_d:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        k_scale, v_scale = (None if s is None else s.unsqueeze(-3) for s in (k_scale, v_scale))
    bias = None
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            bias = torch.zeros(attn_mask.shape, dtype=torch.float32).masked_fill_(~attn_mask, float("-inf"))
        else:
            bias = attn_mask.to(torch.float32)
        # Right-aligned against [N, L, S] (3-D inputs) or [N, H, L, S]; the
        # heads axis of 3-D inputs goes after N.
        while bias.dim() < (3 if three_d else 4):
            bias = bias.unsqueeze(0)
        if three_d:
            bias = bias.unsqueeze(1)
        # Broadcast over keys, it is made whole (attnrt reads a bias row as
        # contiguous keys); over queries (key padding), a stride-0 view.
        if bias.shape[-1] != key.shape[-2]:
            bias = bias.expand(*bias.shape[:-1], key.shape[-2]).contiguous()
        bias = bias.expand(bias.shape[0], bias.shape[1], query.shape[-2], key.shape[-2])
    out = _call(query, key, value, is_causal, True, scale, bias, k_scale=k_scale, v_scale=v_scale)
    return out.squeeze(1) if three_d else out
