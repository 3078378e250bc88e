#!/usr/bin/env python3
"""Estimated time of one ring step of attnrt_mpi's context parallelism:
compute on the block at hand against the transfer of the next K/V block.

Every figure is ESTIMATED: the compute rates are the A64FX model's
(docs/a64fx.md, bench/mca/model.py: S2 on 48 cores, reading A, divided by
4 for one rank per CMG), the links' figures are published peak rates
(docs/distributed.md says where from). Nothing here was measured.

  python3 mpi/model/ring_model.py            # the table of docs/distributed.md
"""

# Per-rank compute (one CMG, 12 cores), GFLOP/s, estimated (docs/a64fx.md).
RATES = {"fp32": (4960 / 4, 4), "fp16 fast": (8553 / 4, 2)}  # (GFLOP/s, bytes per element)
# Links: (GB/s per direction, latency in us). Published peak figures.
LINKS = {"Tofu-D": (6.8, 0.49), "IB HDR100": (12.5, 1.0), "IB HDR200": (25.0, 1.0)}
H, D = 8, 128  # S2's heads and head_dim (MHA: Hq = Hkv; GQA divides the bytes by Hq/Hkv)
CMG_BYTES = 8 << 30  # HBM2 per CMG


def step(n, rate, elem, link, causal):
    """Seconds of compute and of transfer for one step with n keys per rank."""
    flops = 4.0 * H * n * n * D * (0.5 if causal else 1.0)  # zig-zag: half of each off-diagonal block
    gbs, lat_us = LINKS[link]
    return flops / (rate * 1e9), lat_us * 1e-6 + 2.0 * H * n * D * elem / (gbs * 1e9)


def crossover(rate, elem, link, causal, gqa=1):
    """Keys per rank from which the transfer hides under the compute (latency aside)."""
    gbs, _ = LINKS[link]
    return rate * elem / (2.0 * gqa * gbs) * (2 if causal else 1)


def memory(n, elem):
    """Bytes a rank holds: Q, O, its K/V shard, two ring buffers, fp32 partial and accumulator."""
    return H * n * D * (2 * elem + 2 * 2 * elem + 2 * 2 * elem + 2 * 4)


def main():
    print("Keys per rank from which a step's transfer hides under its compute (estimated):\n")
    print("| dtype | link | not causal | causal zig-zag | causal zig-zag, GQA 4:1 |")
    print("| --- | --- | --- | --- | --- |")
    for dt, (rate, elem) in RATES.items():
        for link in LINKS:
            print(f"| {dt} | {link} | {crossover(rate, elem, link, False):.0f} | {crossover(rate, elem, link, True):.0f}"
                  f" | {crossover(rate, elem, link, True, 4):.0f} |")
    print("\nOne ring step, fp32, causal zig-zag, B1 H8 D128, one rank per CMG (estimated; ms):\n")
    print("| keys (global) | ranks | keys per rank | compute | Tofu-D | IB HDR100 | hidden on Tofu-D | memory per rank |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rate, elem = RATES["fp32"]
    for total in (32 << 10, 128 << 10, 512 << 10, 1 << 20):
        for ranks in (16, 64, 256, 1024):  # from 4 nodes: 4 ranks are one node, no link
            n = total // ranks
            if n < 128:
                continue
            c, t = step(n, rate, elem, "Tofu-D", True)
            _, ib = step(n, rate, elem, "IB HDR100", True)
            mem = memory(n, elem)
            fits = "" if mem <= CMG_BYTES else " (over 8 GiB)"
            print(f"| {total >> 10}K | {ranks} | {n} | {c * 1e3:.3f} | {t * 1e3:.3f} | {ib * 1e3:.3f} | "
                  f"{'yes' if t <= c else 'no'} | {mem / (1 << 30):.2f} GiB{fits} |")


if __name__ == "__main__":
    main()
