"""attnrt.Runtime mirrors attnrt::Config; the docs reach help()."""

import os
import re

import numpy as np
import pytest

import attnrt
import reference
from conftest import rand


def test_runtime_settings(rng):
    rt = attnrt.Runtime(threads=1, isa="generic", bind="none", strategy="online")
    assert rt.threads == 1 and rt.isa == "generic"
    assert rt.kernel_set("float32") == "generic"
    q, k, v = rand(rng, (1, 2, 9, 32)), rand(rng, (1, 2, 30, 32)), rand(rng, (1, 2, 30, 32))
    want, _ = reference.attention(q, k, v)
    np.testing.assert_allclose(attnrt.attention(q, k, v, runtime=rt), want, atol=2e-5, rtol=0)


def test_runtime_tuning_row(rng):
    rt = attnrt.Runtime(threads=1, uarch="zen4")
    assert rt.uarch == "zen4"
    assert attnrt.Runtime(threads=1).uarch  # this CPU's row, "other" if the table has none
    with pytest.raises(ValueError, match=re.escape("config.uarch (zen9) must name a row of the tuning table")):
        attnrt.Runtime(uarch="zen9")
    q, k, v = rand(rng, (2, 4, 1, 64)), rand(rng, (2, 4, 300, 64)), rand(rng, (2, 4, 300, 64))
    want, _ = reference.attention(q, k, v)
    np.testing.assert_allclose(attnrt.attention(q, k, v, runtime=rt), want, atol=2e-5, rtol=0)


def test_docs_and_stubs():
    assert "kv_lens" in attnrt.attention.__doc__ and "DLPack" in attnrt.attention.__doc__
    assert "threads" in attnrt.Runtime.__init__.__doc__
    folder = os.path.dirname(attnrt.__file__)
    with open(os.path.join(folder, "_attnrt.pyi")) as f:
        stub = f.read()
    assert "class Runtime" in stub and "def forward(" in stub
    assert os.path.exists(os.path.join(folder, "py.typed"))
    assert attnrt.__version__.count(".") == 2
