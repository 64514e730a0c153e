# Two entry points for a fresh machine: `make demo` (the whole pipeline on its default) and `make test`.
PY := .venv/bin/python
RUN := runs/demo

.PHONY: setup demo test

setup:
	bash scripts/setup_env.sh

# train (FPTT, LTC, rdigits) -> quantization-aware fine-tuning -> NIR -> resource report -> Lava -> verify
demo: setup
	$(PY) train/run.py --out $(RUN)/float
	$(PY) train/run.py --quant --init $(RUN)/float/ckpt.pt --epochs 3 --lr 1e-3 --out $(RUN)/qat
	$(PY) export/to_nir.py $(RUN)/qat/ckpt.pt -o $(RUN)/model.nir
	$(PY) hardware/resources.py $(RUN)/model.nir --json $(RUN)/resources.json
	$(PY) hardware/run_lava.py $(RUN)/model.nir --samples 360
	$(PY) sim/verify.py $(RUN)/model.nir --ckpt $(RUN)/float/ckpt.pt --samples 16 --json $(RUN)/verify.json
	@echo "pipeline done: files in $(RUN)/ (float/ and qat/ checkpoints, model.nir, resources.json, verify.json)"

test: setup
	$(PY) -m pytest -q
