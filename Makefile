# Two entry points for a fresh machine: `make demo` (the whole pipeline on its default) and `make test`;
# `make docs` builds the documentation site into site/ (warnings are errors).
PY := .venv/bin/python
RUN := runs/demo

.PHONY: setup demo test test-slow docs

setup:
	bash scripts/setup_env.sh

# train (FPTT, LTC, rdigits) -> quantization-aware fine-tuning, both under the Loihi 2 chip profile (--target
# loihi2: neuron-local gate mixing, then per-neuron integer programs; docs/fixed_point.md) -> NIR -> integer
# simulator -> resource report -> Lava -> verify, then RUN/summary.json (scripts/demo_summary.py; the README's
# results table is rendered from its committed copy: scripts/demo_summary.py RUN --publish)
# The demo's numbers are the same on every x86-64 CPU with AVX2 and the same package versions: MKL and ATen take their
# AVX2 kernels whatever wider vector unit the CPU has (their AVX-512 kernels sum in another order; docs/training.md).
demo: export MKL_CBWR := AVX2
demo: export ATEN_CPU_CAPABILITY := avx2
demo: setup
	@mkdir -p $(RUN) && date +%s > $(RUN)/started
	$(PY) train/run.py --target loihi2 --out $(RUN)/float
	$(PY) train/run.py --quant --target loihi2 --init $(RUN)/float/ckpt.pt --epochs 8 --lr 3e-4 --lr-schedule cosine --out $(RUN)/qat
	$(PY) export/to_nir.py $(RUN)/qat/ckpt.pt --target loihi2 -o $(RUN)/model.nir --no-eval
	$(PY) sim/run.py $(RUN)/model.nir --json $(RUN)/sim.json
	$(PY) hardware/resources.py $(RUN)/model.nir --json $(RUN)/resources.json
	$(PY) hardware/run_lava.py $(RUN)/model.nir --samples 360 --json $(RUN)/lava.json
	$(PY) sim/verify.py $(RUN)/model.nir --ckpt $(RUN)/float/ckpt.pt --samples 16 --json $(RUN)/verify.json
	$(PY) scripts/demo_summary.py $(RUN)
	@echo "pipeline done: files in $(RUN)/ (float/ and qat/ checkpoints, model.nir, sim.json, resources.json, lava.json, verify.json, summary.json)"

test: setup
	$(PY) -m pytest -q

# the long runs the default deselects: >= 200 random extreme networks through verify with Lava (issue 18); >= 1000
# mutated NIR files and >= 1000 mutated checkpoints through every reader (tests/test_fuzz.py, issue 25)
test-slow: setup
	$(PY) -m pytest -q -m slow

# MkDocs + Material + mkdocstrings (API pages from the docstrings); tests/test_site.py runs the same build
docs: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site
