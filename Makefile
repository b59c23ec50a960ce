# bnnflow: BN-free binary neural networks to verified Zynq dataflow accelerators.
# `make setup` then `make test` on a fresh Debian machine; then `make build`.
PY      := .venv/bin/python
# Every target but setup and test goes through the project's one command line.
BNNFLOW := .venv/bin/bnnflow
MODEL   ?= tfc_w1a1_nobn
BOARD   ?= Pynq-Z2
N       ?= 10000
EPOCHS  ?=
THREADS ?= 1
DEVICE  ?= cpu
PRECISION ?= fp32
ARGS    ?=
BACKEND ?= bnnflow
ESTIMATE ?= analytic
ESTIMATES_ONLY ?=
TARGET_FPS ?=
BOARDS  ?= $(BOARD)
SIM     ?=
POINTS  ?=
DASK_SCHEDULER ?=

# The variables a command line may set: a misspelt one (ESTIMTE=analytic) would otherwise be
# ignored without a word, and the build would run with the default.
KNOWN_VARS := MODEL BOARD N EPOCHS THREADS DEVICE PRECISION ARGS BACKEND ESTIMATE ESTIMATES_ONLY TARGET_FPS \
              CHECKPOINT FOLDING_CONFIG PUBLISH SEED BOARDS SIM POINTS DASK_SCHEDULER ONNX DATA
UNKNOWN_VARS := $(filter-out $(KNOWN_VARS),$(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(v))))
ifneq ($(UNKNOWN_VARS),)
$(error unknown variable $(UNKNOWN_VARS); make takes $(KNOWN_VARS))
endif

.PHONY: setup test build train bench bench-train bench-sim rtlsim validate list clean help bench-resources docker-test fuzz dse check

help:
	@echo "make setup                         install system packages, .venv and pinned Python packages"
	@echo "make test                          run the whole test suite"
	@echo "make build MODEL=m BOARD=b         checkpoint -> verified accelerator under build/m-b/"
	@echo "make build ONNX=f.onnx [DATA=d.npz] [N=n]   a QONNX file (its inputs) -> accelerator under build/<stem>-b/"
	@echo "make train MODEL=m [EPOCHS=n]      train a zoo model into runs/m/final.pt; PUBLISH=1 also replaces checkpoints/m.pt"
	@echo "                                   (DEVICE=cuda on a GPU, PRECISION=bf16 for mixed precision: 2x faster on AVX-512 BF16 CPUs)"
	@echo "make bench-train [ARGS=...]        time a training epoch of every zoo model (table)"
	@echo "make rtlsim MODEL=m BOARD=b N=n    simulate n test images through the RTL"
	@echo "make validate MODEL=m BOARD=b      run the deploy package's validate.py on the virtual board"
	@echo "make list                          known models and boards"
	@echo "make check ONNX=net.onnx           how every node of a QONNX file will be handled (exit 2 if unsupported)"
	@echo "   build options: BACKEND=finn  ESTIMATE=yosys  ESTIMATES_ONLY=1  FOLDING_CONFIG=f.json"
	@echo "                  TARGET_FPS=n (images/s) or TARGET_FPS=max (fastest folding that fits the board)"
	@echo "make dse MODEL=m BOARDS=\"b1 b2\"     every candidate folding on every board as Dask tasks: build/dse/m/results.csv,"
	@echo "                                   pareto.png, report.md; SIM=n also simulates n images a point, POINTS=n per board"
	@echo "                                   (default 16, 0: all); DASK_SCHEDULER=tcp://host:8786 runs on that cluster"
	@echo "make bench                         golden model vs qonnx execute_onnx; cycles and FPS per model"
	@echo "make bench-resources               Yosys vs analytic resources per layer of tfc_w1a1_nobn"
	@echo "make bench-sim [ARGS=...]          Verilator cycles/s and simulated FPS (tfc, densenet, cnv_w1a1 FINN folding)"
	@echo "make docker-test                   build the toolchain image and run the RTL tests in it"
	@echo "make fuzz [N=100] [SEED=s]         N random networks through export..RTL (Verilator), bit-exact checks;"
	@echo "                                   a fresh seed each run (printed), failures saved under build/fuzz/failures/"

setup:
	bash scripts/setup.sh

# One worker per core; a file's tests stay on one worker, so its module fixtures (a Verilator
# build, a lowered zoo model) are made once. ARGS="-n 0" runs serially.
test:
	$(PY) -m pytest -q -n auto --dist loadfile $(ARGS)

CKPT_ARG = $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT))
FLOW_ARGS = --backend $(BACKEND) --estimate $(ESTIMATE) $(if $(ESTIMATES_ONLY),--estimates-only) \
            $(if $(FOLDING_CONFIG),--folding-config $(FOLDING_CONFIG)) $(if $(TARGET_FPS),--target-fps $(TARGET_FPS))

# ONNX=net.onnx builds a QONNX file (DATA=inputs.npz its inputs) instead of MODEL; N=n simulates n inputs.
WHAT = $(if $(ONNX),--onnx $(ONNX) $(if $(DATA),--data $(DATA)),--model $(MODEL))
build:
	$(BNNFLOW) build $(WHAT) --board $(BOARD) $(if $(filter command line,$(origin N)),--n-sim $(N)) $(CKPT_ARG) $(FLOW_ARGS) $(ARGS)

rtlsim:
	$(BNNFLOW) build $(WHAT) --board $(BOARD) --n-sim $(N) $(CKPT_ARG) $(FLOW_ARGS) $(ARGS)

dse:
	$(BNNFLOW) dse --model $(MODEL) --boards $(BOARDS) --estimate $(ESTIMATE) $(CKPT_ARG) \
	    $(if $(SIM),--sim $(SIM)) $(if $(POINTS),--points $(POINTS)) $(if $(DASK_SCHEDULER),--scheduler $(DASK_SCHEDULER)) $(ARGS)

validate:
	$(BNNFLOW) validate build/$(MODEL)-$(BOARD)/deploy --virtual $(ARGS)

train:
	$(BNNFLOW) train --model $(MODEL) --threads $(THREADS) --device $(DEVICE) --precision $(PRECISION) \
	    $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(filter-out 0,$(PUBLISH)),--publish) $(ARGS)

bench:
	$(BNNFLOW) bench golden $(ARGS)

bench-resources:
	$(BNNFLOW) bench resources $(ARGS)

bench-sim:
	$(BNNFLOW) bench sim $(ARGS)

docker-test:
	@docker info >/dev/null 2>&1 || { echo "make docker-test: no Docker engine here (\`docker info\` fails); start one, or run \`make test\` directly"; exit 1; }
	docker build -f docker/Dockerfile -t bnnflow-toolchain .
	docker run --rm bnnflow-toolchain .venv/bin/python -m pytest -q tests/rtl

# N defaults to 100 networks here, not the 10,000 images of rtlsim.
fuzz:
	$(BNNFLOW) fuzz --n $(if $(filter command line,$(origin N)),$(N),100) $(if $(SEED),--seed $(SEED)) $(ARGS)

bench-train:
	$(BNNFLOW) bench train --threads $(THREADS) $(ARGS)

list:
	$(BNNFLOW) list

# Before any build stage: how every node of ONNX will be handled; exit 2 naming the node if one cannot be.
check:
	@test -n "$(ONNX)" || { echo "make check: give the network, e.g. make check ONNX=net.onnx"; exit 2; }
	$(BNNFLOW) check $(ONNX)

clean:
	rm -rf build runs .pytest_cache
