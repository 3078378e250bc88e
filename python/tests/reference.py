"""The float64 reference the tests check attnrt against: tests/reference.cpp's
rules (masking, ALiBi at the aligned query position, sinks, empty rows give
zeros and -inf) written with numpy, on BHSD arrays."""

import numpy as np


def attention(q, k, v, *, causal=False, top_left=False, scale=None, window=None, kv_lens=None,
              bias=None, softcap=0.0, alibi_slopes=None, sinks=None):
    """(out, lse) in float64 for [B, Hq, M, D] q and [B, Hkv, N, D] k, v."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    B, H, M, D = q.shape
    group = H // k.shape[1]
    scale = 1.0 / np.sqrt(D) if scale is None else scale
    wl, wr = (-1, -1) if window is None else window
    if causal:
        wr = 0 if wr < 0 else min(wr, 0)
    out = np.zeros((B, H, M, v.shape[3]))
    lse = np.full((B, H, M), -np.inf)
    for b in range(B):
        n = k.shape[2] if kv_lens is None else int(kv_lens[b])
        diag = 0 if top_left else n - M
        i = np.arange(M)[:, None] + diag
        j = np.arange(n)[None, :]
        visible = np.ones((M, n), bool)
        if wl >= 0:
            visible &= j >= i - wl
        if wr >= 0:
            visible &= j <= i + wr
        for h in range(H):
            s = q[b, h] @ k[b, h // group, :n].T * scale
            if softcap > 0:
                s = softcap * np.tanh(s / softcap)
            if bias is not None:
                s = s + np.asarray(bias, np.float64)[min(b, bias.shape[0] - 1),
                                                    min(h, bias.shape[1] - 1), :, :n]
            if alibi_slopes is not None:
                s = s + float(alibi_slopes[h]) * (j - i)
            s = np.where(visible, s, -np.inf)
            sink = -np.inf if sinks is None else float(sinks[h])
            mx = np.maximum(s.max(axis=1, initial=-np.inf), sink)
            live = mx > -np.inf
            safe = np.where(live, mx, 0.0)[:, None]
            w = np.exp(s - safe)
            total = w.sum(axis=1) + np.exp(sink - safe[:, 0])
            o = (w @ v[b, h // group, :n]) / np.where(live, total, 1.0)[:, None]
            out[b, h] = np.where(live[:, None], o, 0.0)
            lse[b, h] = np.where(live, safe[:, 0] + np.log(np.where(live, total, 1.0)), -np.inf)
    return out, lse
