# Two entry points for a fresh machine: `make demo` (the whole job on its default) and `make test`.
.PHONY: setup demo test

setup:
	bash scripts/setup_env.sh

demo: setup
	.venv/bin/python train/run.py

test: setup
	.venv/bin/python -m pytest -q
