"""python -m attnrt.bench runs: the overhead comparison and the table on a
tiny shape file in attnrt-bench's format (figures mean nothing here)."""

import itertools

import attnrt.bench as bench


def test_shape_file_and_table(tmp_path, capsys):
    shapes = tmp_path / "tiny.txt"
    shapes.write_text("# comment\n"
                      "tiny  peak=1  --heads 4 --kv-heads 2 --q-len 33 --kv-len 70 --head-dim 32 --causal\n"
                      "tiny-bf16  -  --batch 2 --q-len 1 --kv-len 100 --head-dim 16 --dtype bf16\n")
    parsed = bench.read_shapes(str(shapes))
    assert [s["name"] for s in parsed] == ["tiny", "tiny-bf16"]
    assert parsed[0]["kv_heads"] == 2 and parsed[0]["causal"] and parsed[1]["dtype"] == "bfloat16"
    assert bench.flops(parsed[0]) == 4.0 * 4 * sum(min(i + 1, 70) for i in range(33)) * 32
    bench.main(["--shapes", str(shapes), "--threads", "1", "--reps", "1", "--budget", "0"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny")]
    assert len(rows) == 3  # tiny in float32 and bfloat16, tiny-bf16 in its own
    for row in rows:  # the error against numpy's float32 attention is small
        cells = [c.strip() for c in row.split("|")]
        assert float(cells[-3]) < 3e-2, row
        assert 0 <= float(cells[-2].rstrip("%")) <= 100, row  # others' share of the CPU


def test_blocks_take_turns_after_quiet_time():
    # Each callable runs in blocks after the sleep, never interleaved call by call.
    log = []
    bench.median_seconds([lambda: log.append("a"), lambda: log.append("b")], 2, 0, quiet=0.001)
    assert log[:4] == ["a", "a", "b", "b"]  # warm-up and the call that sizes the block
    runs = [(name, len(list(group))) for name, group in itertools.groupby(log[4:])]
    assert [name for name, _ in runs] == ["a", "b", "a", "b"], runs  # 2 rounds, taking turns
    assert all(1 <= n <= 20 for _, n in runs) and runs[0][1] == runs[2][1], runs


def test_targets_installed():
    names = [s["name"] for s in bench.read_shapes(bench.TARGETS)]
    assert names[:3] == ["S1", "S2", "S3"]


def test_overhead_runs(capsys):
    bench.main(["--overhead", "--rounds", "3", "--calls", "200"])
    out = capsys.readouterr().out
    assert "C++ attnrt_runtime_forward: median" in out and "overhead:" in out
