"""benchmarks/paper.py: one paper row through the whole chain (real training, QAT, NIR, sim/, resources, Lava,
verify), interrupted and continued from its committed state as a new machine would, and BENCHMARKS.md rendered from
docs/results/benchmarks.json."""
from dataclasses import replace
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = Path(__file__).resolve().parents[1]


def small_row(paper):
    """The sdigits row with 16 hidden neurons, 6 Lava and 2 verify samples (the test's budget)."""
    row = paper.ROWS["sdigits"]
    train = list(row.train)
    train[train.index("--hidden") + 1] = "16"
    return replace(row, train=tuple(train), lava_samples=6, verify_samples=2)


@pytest.fixture
def paper(monkeypatch, tmp_path):
    """benchmarks/paper.py with its runs, state, results and table in tmp_path (sdigits: few Lava samples)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import paper
    table = tmp_path / "BENCHMARKS.md"
    table.write_text(f"# head\n\n{paper.BEGIN}\n{paper.END}\n\ntail\n")
    for name, value in (("RUNS", tmp_path / "runs"), ("STATE", tmp_path / "state"),
                        ("RESULTS", tmp_path / "benchmarks.json"), ("TABLE", table)):
        monkeypatch.setattr(paper, name, value)
    monkeypatch.setitem(paper.ROWS, "sdigits", small_row(paper))
    return paper


def test_committed_table_is_rendered_from_the_results_file():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import paper
    text = (ROOT / "BENCHMARKS.md").read_text()
    assert paper.replace_section(text, paper.render(paper.load_results())) == text, \
        "BENCHMARKS.md differs from docs/results/benchmarks.json: run python benchmarks/paper.py --render"
    for r in paper.load_results():
        assert r["task"] in paper.ROWS and r["profile"] in paper.PROFILES
        if r["status"] == "final":
            assert r["bit_exact"] is True, f"{r['task']} {r['profile']}: verify found a divergence"
        else:       # a row still training keeps its resumable state in the tracked folder
            for stage, progress in r["progress"].items():
                last = ROOT / "benchmarks" / "paper_state" / paper.row_name(r["task"], r["profile"]) / stage
                if progress["epochs_done"] < progress["epochs"]:
                    assert (last / "last.pt").exists(), f"{last}/last.pt is not committed"


def test_a_row_is_interrupted_then_continued_on_a_new_machine_through_the_whole_chain(paper, tmp_path, capsys):
    # 1. Ctrl-C after the first epoch: the training stops, its files are mirrored into the tracked folder, and the
    #    entry says "training" with the command that continues it
    code = ("import sys, paper; from pathlib import Path; "
            f"paper.RUNS, paper.STATE = Path({str(tmp_path / 'runs')!r}), Path({str(tmp_path / 'state')!r}); "
            f"paper.RESULTS, paper.TABLE = Path({str(paper.RESULTS)!r}), Path({str(paper.TABLE)!r}); "
            "import test_paper; paper.ROWS['sdigits'] = test_paper.small_row(paper); "
            "sys.exit(paper.main(['--task', 'sdigits', '--epochs', '2', '--qat-epochs', '1']))")
    # started as a non-interactive shell starts a background command: SIGINT ignored, which its children inherit
    ignore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT / "benchmarks", stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=ignore_sigint,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT / "tests")})
    last = tmp_path / "runs" / "sdigits-loihi2" / "float" / "last.pt"
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("epoch 1/2"):
            break
    deadline = time.monotonic() + 60
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)                # last.pt is written (atomically) just after the epoch's line
    assert last.exists() and proc.poll() is None, "".join(lines)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, "".join(lines) + rest
    assert "Traceback" not in rest and "interrupted" in rest
    assert "rerun `python benchmarks/paper.py --task sdigits --profile loihi2 --epochs 2 --qat-epochs 1` to continue" \
        in rest
    entry, = json.loads(paper.RESULTS.read_text())
    assert entry["status"] == "training" and entry["progress"]["float"]["epochs_done"] == 1
    state = tmp_path / "state" / "sdigits-loihi2" / "float"
    assert sorted(p.name for p in state.iterdir()) == ["best.pt", "last.pt", "metrics.json"]
    assert "| sdigits | loihi2 | training: float 1/2 epochs (cpu " in paper.TABLE.read_text()
    # 2. while it trains: the chain on its best float epoch so far (no QAT), shown in its entry and the table
    assert paper.main(["--task", "sdigits", "--epochs", "2", "--qat-epochs", "1", "--preview"]) == 0
    entry, = json.loads(paper.RESULTS.read_text())
    assert entry["status"] == "training" and entry["preview"]["epoch"] == 1 and entry["preview"]["bit_exact"]
    assert entry["preview"]["verify_steps"] == 64 and entry["preview"]["integer_samples"] == 360
    assert "(360; float epoch 1, no QAT)" in paper.TABLE.read_text()
    # 3. a new machine has only the committed state: the same command continues from epoch 1 to the end
    shutil.rmtree(tmp_path / "runs")
    capsys.readouterr()
    paper.RESULTS.rename(tmp_path / "kept.json")    # --list reads the state itself, also for a row killed hard
    assert paper.main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert "sdigits-loihi2   training" in listed and "float 1/2 epochs" in listed and "h left" in listed
    assert "python benchmarks/paper.py --task sdigits --profile loihi2 --epochs 2\n" in listed
    (tmp_path / "kept.json").rename(paper.RESULTS)
    assert paper.main(["--task", "sdigits", "--epochs", "2", "--qat-epochs", "1", "--until", "float"]) == 0
    out = capsys.readouterr().out
    relative = os.path.relpath(tmp_path / "runs" / "sdigits-loihi2" / "float", ROOT)
    assert "restored" in out and f"train/run.py --resume {relative}" in out    # paths relative to the repository
    metrics = json.loads((tmp_path / "runs" / "sdigits-loihi2" / "float" / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2] and metrics["resumed"][0]["from_epoch"] == 1
    # the float stage is finished: its tracked state keeps what QAT and verify read, not its resume files
    assert sorted(p.name for p in state.iterdir()) == ["ckpt.pt", "metrics.json"]
    # 4. a third machine continues from that state with QAT and the chain; final: every stage ran, the entry holds
    #    the chain's numbers, the tracked state is gone
    shutil.rmtree(tmp_path / "runs")
    assert paper.main(["--task", "sdigits", "--epochs", "2", "--qat-epochs", "1", "--preview"]) == 1
    out = capsys.readouterr().out
    assert "restored" in out and "the float stage is finished; `python benchmarks/paper.py --task sdigits" in out
    assert paper.main(["--task", "sdigits", "--epochs", "2", "--qat-epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "sdigits-loihi2: float done" in out and "sdigits-loihi2: qat\n" in out
    entry, = json.loads(paper.RESULTS.read_text())
    assert entry["status"] == "final" and entry["bit_exact"] is True
    sim = json.loads((tmp_path / "runs" / "sdigits-loihi2" / "sim.json").read_text())
    assert entry["integer"] == sim["integer_accuracy"] and entry["integer_samples"] == 360
    assert entry["float_train"] == metrics["history"][-1]["train_accuracy"]      # the last epoch's train score
    assert f"(train {100 * entry['float_train']:.1f} %)" in paper.TABLE.read_text()
    assert entry["lava_samples"] == 6 and entry["verify_samples"] == 2 and entry["verify_steps"] == 64
    assert entry["epochs"] == 2 and entry["qat_epochs"] == 1 and entry["host_layers"] == []
    assert entry["mapping_errors"] == [] and "does NOT fit" not in paper.TABLE.read_text()
    assert entry["cores"] >= 1 and entry["neurons"] == 16 + 10 and set(entry["train_hours_by_device"]) == {"cpu"}
    assert entry["command"] == "python benchmarks/paper.py --task sdigits --profile loihi2 --epochs 2 --qat-epochs 1"
    assert not (tmp_path / "state" / "sdigits-loihi2").exists()
    assert paper.replace_section(paper.TABLE.read_text(), paper.render([entry])) == paper.TABLE.read_text()


def test_targets_and_the_host_gap_are_computed_from_the_entries(paper):
    loihi2 = {"task": "fmnist", "profile": "loihi2", "status": "final", "metric": "accuracy", "integer": 0.885,
              "float": 0.887, "target": ">= 0.88"}
    host = {"task": "fmnist", "profile": "host", "status": "final", "metric": "accuracy", "float": 0.891}
    assert paper.target_met(loihi2) is True and paper.target_met({**loihi2, "integer": 0.87}) is False
    assert paper.target_cell(loihi2) == ">= 0.88: met"
    assert paper.target_cell({**loihi2, "integer": 0.542}) == ">= 0.88: NOT met, 33.8 points below"
    assert paper.target_cell({**loihi2, "target": None}) == ""
    assert paper.host_gap(loihi2, [loihi2, host]) == \
        "-0.6 points vs host float (float network -0.4, quantization -0.2)"
    add = {"task": "add1000", "profile": "loihi2", "status": "final", "metric": "mse", "integer": 0.006,
           "float": 0.004, "target": "< 0.01"}
    assert paper.target_met(add) is True
    assert paper.target_cell({**add, "integer": 0.03}) == "< 0.01: NOT met, 3.0x the bound"
    assert paper.host_gap(add, [add, {**host, "task": "add1000", "metric": "mse", "float": 0.005}]) == \
        "+20 % vs host float (float network -20 %, quantization +50 %)"
    assert paper.host_gap(host, [loihi2, host]) == ""
    wide = {**loihi2, "task": "smnist-wide", "integer": 0.80, "float": 0.81, "target": ">= 0.9"}
    assert paper.host_gap(wide, [wide, {**host, "task": "smnist", "float": 0.83}]) == \
        "-3.0 points vs smnist host float (float network -2.0, quantization -1.0)"


def test_a_loihi2_only_row_refuses_the_host_profile_and_a_bad_task_in_one_line_and_lists_only_loihi2(paper, capsys):
    with pytest.raises(SystemExit) as e:
        paper.main(["--task", "smnist-wide", "--profile", "host"])
    assert e.value.code == 2
    assert capsys.readouterr().err == "error: --task smnist-wide runs under --profile loihi2 only\n"
    with pytest.raises(SystemExit) as e:
        paper.main(["--task", "smnist-wider"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and err.startswith("error: argument --task: invalid choice")
    assert paper.main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert "smnist-wide-loihi2" in listed and "smnist-wide-host" not in listed
    assert "python benchmarks/paper.py --task smnist-wide --profile loihi2" in listed


def test_rows_run_side_by_side_lose_no_entry(paper, tmp_path):
    """Four processes each store their own row 25 times at once: every row ends with its last store."""
    committed = json.loads((ROOT / "docs" / "results" / "benchmarks.json").read_text())[:4]
    code = ("import json, sys, paper; from pathlib import Path; "
            f"paper.RUNS, paper.RESULTS, paper.TABLE = Path({str(tmp_path / 'runs')!r}), "
            f"Path({str(paper.RESULTS)!r}), Path({str(paper.TABLE)!r}); "
            "entry = json.loads(sys.argv[1])\n"
            "for n in range(1, 26):\n"
            "    paper.store({**entry, 'epochs': n})\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, json.dumps(e)], cwd=ROOT / "benchmarks")
             for e in committed]
    assert [p.wait(timeout=300) for p in procs] == [0] * len(procs)
    stored = {(r["task"], r["profile"]): r["epochs"] for r in paper.load_results()}
    assert stored == {(e["task"], e["profile"]): 25 for e in committed}
    assert paper.replace_section(paper.TABLE.read_text(), paper.render(paper.load_results())) == \
        paper.TABLE.read_text()
