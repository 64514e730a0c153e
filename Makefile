# Two entry points for a fresh machine: `make demo` (the whole pipeline on its default) and `make test`.
PY := .venv/bin/python
RUN := runs/demo

.PHONY: setup demo test

setup:
	bash scripts/setup_env.sh

# train (FPTT, LTC, rdigits) -> quantization-aware fine-tuning, both under the Loihi 2 chip profile (--target
# loihi2: neuron-local gate mixing, then per-neuron integer programs; docs/fixed_point.md) -> NIR -> resource
# report -> Lava -> verify
demo: setup
	$(PY) train/run.py --target loihi2 --out $(RUN)/float
	$(PY) train/run.py --quant --target loihi2 --init $(RUN)/float/ckpt.pt --epochs 8 --lr 3e-4 --lr-schedule cosine --out $(RUN)/qat
	$(PY) export/to_nir.py $(RUN)/qat/ckpt.pt --target loihi2 -o $(RUN)/model.nir
	$(PY) hardware/resources.py $(RUN)/model.nir --json $(RUN)/resources.json
	$(PY) hardware/run_lava.py $(RUN)/model.nir --samples 360
	$(PY) sim/verify.py $(RUN)/model.nir --ckpt $(RUN)/float/ckpt.pt --samples 16 --json $(RUN)/verify.json
	@echo "pipeline done: files in $(RUN)/ (float/ and qat/ checkpoints, model.nir, resources.json, verify.json)"

test: setup
	$(PY) -m pytest -q
