"""The GIL is released during a call, and 8 Python threads calling attnrt
at once get bit-identical results to serial calls."""

import multiprocessing
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


def test_gil_released_during_call(rng):
    # While one thread is inside a long attnrt call, this thread keeps running
    # Python. Were the GIL held, it would run only at the interpreter's switch
    # interval, a few times over the call (a C call that holds it, such as a
    # backtracking re.match, gives 0 here), not hundreds of times.
    import sys
    import threading
    import time

    q, k = rand(rng, (1, 8, 2048, 64)), rand(rng, (1, 8, 2048, 64))
    runtime = attnrt.Runtime(threads=1)
    span = {}

    def call():
        span["start"] = time.perf_counter()
        attnrt.attention(q, k, k, runtime=runtime)
        span["end"] = time.perf_counter()

    worker = threading.Thread(target=call)
    ticks = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0)
    worker.join()
    inside = [t for t in ticks if span["start"] + 1e-3 < t < span["end"] - 1e-3]
    switches = (span["end"] - span["start"]) / sys.getswitchinterval()
    assert len(inside) > 4 * switches + 10, (len(inside), switches)


_PARENT = {}  # what forked children inherit


def _forked_call(which):
    q, k, v = _PARENT["qkv"]
    rt = {"default": None, "parent's": _PARENT.get("runtime"), "new": None}[which]
    if which == "new":
        rt = attnrt.Runtime(threads=2)
    return attnrt.attention(q, k, v, causal=True, runtime=rt)


def test_forked_children_compute(rng):
    # multiprocessing's "fork" (Linux's default before Python 3.14): the
    # children have none of the parent's worker threads, yet compute with
    # the default runtime, one the parent made and one of their own, the
    # parent's results bit for bit.
    _PARENT["qkv"] = rand(rng, (1, 4, 64, 64)), rand(rng, (1, 2, 300, 64)), rand(rng, (1, 2, 300, 64))
    _PARENT["runtime"] = attnrt.Runtime(threads=2)
    want = {"default": _forked_call("default"), "parent's": _forked_call("parent's")}
    want["new"] = want["parent's"]  # the same threads, so the same partition
    with multiprocessing.get_context("fork").Pool(2) as pool:
        got = pool.map_async(_forked_call, list(want)).get(timeout=120)
    for which, g in zip(want, got):
        np.testing.assert_array_equal(g, want[which], err_msg=which)
