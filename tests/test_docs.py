"""The documents say what the code does: spec version, LUT size, the names of functions, modules and files they
cite, the NIR producer and equation strings, the README pipeline (it runs the checkpoint it fine-tuned), and that no
tracked file names a path of one machine. The README's results table: tests/test_demo_summary.py; BENCHMARKS.md's
rows: tests/test_paper.py; the documentation site: tests/test_site.py."""
import importlib
from pathlib import Path
import re
import shlex
import subprocess

import pytest

from ltcsn.sim import spec

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]
STAGE_DIRS = ("train", "export", "sim", "hardware")
# files a command writes that the repository may not hold yet, with the command
WRITTEN_BY = {"docs/results/demo_summary.json": "make demo, then python scripts/demo_summary.py runs/demo --publish"}


def _text(path: Path) -> str:
    return path.read_text()


def _python_sources():
    for d in (*STAGE_DIRS, "benchmarks", "scripts"):
        yield from sorted((ROOT / d).rglob("*.py"))


def test_spec_version_and_lut_size_come_from_the_code():
    fp = _text(ROOT / "docs/fixed_point.md")
    assert re.search(r"^# .*\(spec version (\d+)\)", fp, re.M).group(1) == str(spec.SPEC_VERSION)
    assert re.search(r"The sigmoid of the host profile is a LUT of (\d+) entries", fp).group(1) == str(spec.LUT_SIZE)
    schema = _text(ROOT / "docs/nir_schema.md")
    assert re.search(r"`spec_version` \| `docs/fixed_point.md`, (\d+)", schema).group(1) == str(spec.SPEC_VERSION)
    assert re.search(r"the (\d+) sigmoid codes", schema).group(1) == str(spec.LUT_SIZE)
    sizes = [int(n) for doc in DOCS for n in re.findall(r"sigmoid LUT has (\d+) entries|(\d+)-entry sigmoid table",
                                                        _text(doc)) for n in n if n]
    assert len(sizes) >= 2 and set(sizes) == {spec.LUT_SIZE}, sizes


def _dotted_names(text: str) -> set:
    """`ltcsn.x.y` and `sim.x.y` / `train.x` / ... names in backticks (a call's arguments dropped)."""
    names = set()
    for m in re.finditer(r"`((?:ltcsn|sim|train|export|hardware)\.[A-Za-z_][\w.]*)(?:\([^`]*\))?`", text):
        names.add(m.group(1).rstrip("."))
    return names


def _resolve(name: str):
    parts = name.split(".")
    if parts[0] != "ltcsn":
        parts = ["ltcsn", *parts]
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_names_the_documents_cite_exist(doc):
    """Every backticked module / function name resolves, every cited repository file exists."""
    text = _text(doc)
    missing = []
    for name in sorted(_dotted_names(text)):
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    for path in sorted(set(re.findall(r"\b((?:train|export|sim|hardware|docs|benchmarks|scripts|tests)/[\w/.-]+"
                                      r"\.(?:py|md|json|png))\b", text))):
        if not (ROOT / path).exists() and path not in WRITTEN_BY:
            missing.append(path)
    assert not missing, f"{doc.name} cites what does not exist: {missing}"


def test_the_code_cites_files_and_names_that_exist():
    """Docstrings and comments of the package, benchmarks and scripts: cited repository files and .md documents."""
    missing = []
    for src in _python_sources():
        text = src.read_text()
        for path in set(re.findall(r"\b((?:train|export|sim|hardware|docs|benchmarks|scripts|tests)/[\w/.-]+"
                                   r"\.(?:py|md|json))\b", text)):
            if not (ROOT / path).exists() and "{" not in path and path not in WRITTEN_BY:
                missing.append(f"{src.relative_to(ROOT)}: {path}")
        for md in set(re.findall(r"(?<![\w/.])([\w-]+\.md)\b", text)):
            if not ((ROOT / md).exists() or (ROOT / "docs" / md).exists()):
                missing.append(f"{src.relative_to(ROOT)}: {md}")
        for name in _dotted_names(text):
            try:
                _resolve(name)
            except (ImportError, AttributeError):
                missing.append(f"{src.relative_to(ROOT)}: {name}")
    assert not missing, "cited but missing:\n" + "\n".join(sorted(missing))


def test_nir_producer_and_equations_name_the_code(tmp_path):
    """The graph's producer is the module that wrote it (and nir_schema.md says so); every equation string
    names the step function that computes it."""
    import numpy as np
    from ltcsn.export import nir_write
    from ltcsn.export.nir_common import SCHEMA_KEY
    from ltcsn.sim.qnet import QLif, QLtc, QNet, QSynapse

    syn = {"d": [QSynapse(np.ones((2, 2), np.int64), 0, "input")]}
    lif = QLif(n=2, syn=syn, du=10, dv=10, vth=5, bias_mant=np.zeros(2, np.int64), bias_exp=0, frac_bits=12)
    ltc = QLtc(kind="alif", n=2, syn=syn, bias={"d": np.zeros(2, np.int64)}, gated=False,
               alpha=np.array([100, 100]), rho=np.array([10, 10]), theta0=4, beta=4)
    readout = QLtc(kind="readout", n=2, syn=syn, bias={"d": np.zeros(2, np.int64)}, gated=False, spiking=False,
                   alpha=np.array([100, 100]))
    qnet = QNet(input_shape=(2,), input_frac=0, input_range=(0, 1), layers=[lif, ltc], readout=readout,
                lut=spec.sigmoid_lut())
    graph = nir_write.qnet_to_nir(qnet)
    producer = graph.metadata[SCHEMA_KEY]["producer"]
    assert importlib.import_module(producer.split()[-1]) is nir_write
    assert f"`{producer}`" in _text(ROOT / "docs/nir_schema.md")
    for name, node in graph.nodes.items():
        eq = (node.metadata or {}).get(SCHEMA_KEY, {}).get("equations")
        if eq is not None:
            fn = eq.split()[0].rstrip(":")
            assert callable(_resolve(fn)), f"{name}: {eq[:60]}"


# absolute paths of a particular machine: a home, root's home, the development machine's work folder
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:home|root|work|Users)/")


def test_no_tracked_file_names_a_path_of_one_machine():
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    found = []
    for name in filter(None, files):
        path = ROOT / name
        if path.suffix in (".png", ".pt", ".nir", ".h5") or not path.is_file():
            continue
        if name.startswith("benchmarks/paper_state/"):     # a training run's own record: the argv it ran with
            continue
        for no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{name}:{no}: {line.strip()[:100]}")
    assert not found, "\n".join(found)
    assert MACHINE_PATH.search("see /" + "work/shared/x.nir") and MACHINE_PATH.search("`/" + "root/.pyenv`")
    assert not MACHINE_PATH.search("runs/demo/work/x and docs/home/y")


def test_memory_table_is_the_committed_measurement():
    """docs/performance.md's FPTT vs BPTT memory table and its summary line say what the committed output of
    benchmarks/memory_fptt_vs_bptt.py (docs/figures/memory_vs_T.json) says."""
    import json
    measured = json.loads(_text(ROOT / "docs/figures/memory_vs_T.json"))
    text = _text(ROOT / "docs/performance.md")
    runs = {(r["algo"], r["T"]): r for r in measured["results"]}
    mib = 2 ** 20
    for T in measured["settings"]["seq_lens"]:
        f, b = runs["fptt", T], runs["bptt", T]
        row = (f"| {T} | {f['peak_bytes'] / mib:.2f} | {b['peak_bytes'] / mib:.2f} | "
               f"{b['peak_bytes'] / f['peak_bytes']:.1f}x | {f['saved_bytes'] / mib:.3f} | "
               f"{b['saved_bytes'] / mib:.1f} |")
        assert row in text, row
    summary = measured["summary"]
    assert (f"FPTT growth from T = {min(measured['settings']['seq_lens'])} to {max(measured['settings']['seq_lens'])}: "
            f"+{summary['fptt_growth_pct']:.1f} %") in text
    assert f"BPTT/FPTT at T = 2000: {summary['ratio_at_2000']:.1f}x" in text


# ------------------------------------------------------------------------------------ README pipeline
def _pipeline() -> list:
    text = _text(ROOT / "README.md")
    block = text.split("## The pipeline, command by command", 1)[1].split("```", 2)[1].replace("\\\n", " ")
    return [shlex.split(line.split("#", 1)[0]) for line in block.splitlines() if line.startswith("python ")]


# the commands that run the network the pipeline trained (to_netx converts a LIF network of its own)
RUNS_THE_MODEL = ("sim/run.py", "export/to_nir.py", "hardware/resources.py", "hardware/run_lava.py", "sim/verify.py")


def test_readme_pipeline_runs_the_checkpoint_it_fine_tuned():
    from ltcsn.train.run import parse_args
    cmds = _pipeline()
    scripts = [c[1] for c in cmds]
    assert scripts[:2] == ["train/run.py", "train/run.py"] and "--quant" in cmds[1]
    first, qat = parse_args(cmds[0][2:]), parse_args(cmds[1][2:])
    float_dir = f"runs/{first.task}-{first.neuron}-{first.algo}"          # train/run.py's default --out
    qat_dir = qat.out or f"{float_dir}-quant"
    assert qat.init == f"{float_dir}/ckpt.pt"
    runs = [c for i, c in enumerate(cmds) if i >= 2 and c[1] in RUNS_THE_MODEL     # the first of each
            and c[1] not in [d[1] for d in cmds[2:i]]]
    assert [c[1] for c in runs] == list(RUNS_THE_MODEL)
    for cmd in runs:
        model = cmd[2]
        assert model.startswith(qat_dir + "/"), f"{' '.join(cmd)} runs {model}, not the fine-tuned {qat_dir}"
    assert all((ROOT / s).exists() for s in scripts)




def test_training_speed_table_is_the_committed_result():
    """docs/performance.md's training-speed table is what benchmarks/train_speed.py wrote from its committed result."""
    import importlib.util
    import json
    spec_ = importlib.util.spec_from_file_location("train_speed", ROOT / "benchmarks" / "train_speed.py")
    ts = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(ts)
    result = json.loads((ROOT / "docs" / "results" / "train_speed.json").read_text())
    assert f"{ts.TABLE_BEGIN}\n{ts.table(result)}\n{ts.TABLE_END}" in _text(ROOT / "docs" / "performance.md")
