"""The GIL is released during a call, and 8 Python threads calling attnrt
at once get bit-identical results to serial calls."""

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
