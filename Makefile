# bnnflow: BN-free binary neural networks to verified Zynq dataflow accelerators.
# `make setup` then `make test` on a fresh Debian machine; then `make build`.
PY      := .venv/bin/python
MODEL   ?= tfc_w1a1_nobn
BOARD   ?= Pynq-Z2
N       ?= 10000
EPOCHS  ?=
THREADS ?= 1
ARGS    ?=

.PHONY: setup test build train rtlsim list clean help

help:
	@echo "make setup                         install system packages, .venv and pinned Python packages"
	@echo "make test                          run the whole test suite"
	@echo "make build MODEL=m BOARD=b         checkpoint -> verified accelerator under build/m-b/"
	@echo "make train MODEL=m [EPOCHS=n]      train a zoo model into checkpoints/m.pt"
	@echo "make rtlsim MODEL=m BOARD=b N=n    simulate n test images through the RTL"
	@echo "make list                          known models and boards"

setup:
	bash scripts/setup.sh

test:
	$(PY) -m pytest -q $(ARGS)

CKPT_ARG = $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT))

build:
	$(PY) -m flows.cli build --model $(MODEL) --board $(BOARD) $(CKPT_ARG) $(ARGS)

rtlsim:
	$(PY) -m flows.cli build --model $(MODEL) --board $(BOARD) --n-sim $(N) $(CKPT_ARG) $(ARGS)

train:
	$(PY) -m models.train --model $(MODEL) --threads $(THREADS) $(if $(EPOCHS),--epochs $(EPOCHS)) $(ARGS)

list:
	$(PY) -m flows.cli list

clean:
	rm -rf build runs .pytest_cache
