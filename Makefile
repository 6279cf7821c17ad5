# Every target creates .venv and installs the pinned dependencies when they are missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
TORCH_BIN := $(VENV)/torch/bin
WORKDIR ?= runs/gaussians
MNIST_WORKDIR ?= runs/mnist
PAPER_WORKDIR ?= runs/paper

.PHONY: install test reproduce-gaussians reproduce-mnist reproduce-paper reproduce-lines sample bench device-wheels inception-weights clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("wgan-jax needs Python 3.11 or newer, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,images]'
	touch $@

# The layering first (import-linter's contracts in pyproject.toml; docs/api.md#layout), then the
# tests on two worker processes: most of the suite's time is XLA compilation, which uses one core.
# The PyTorch environment holds the references of tests/test_metrics_inception.py.
test: $(INSTALLED) $(TORCH_BIN)/.installed
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=10

reproduce-gaussians: $(INSTALLED)
	$(BIN)/python experiments/gaussians.py --workdir=$(WORKDIR)

reproduce-mnist: $(INSTALLED)
	$(BIN)/python experiments/reproduce_mnist.py --workdir=$(MNIST_WORKDIR)

# The paper's claims, measured: every part, then $(PAPER_WORKDIR)/report.md. A part whose
# result.json exists is reused (delete $(PAPER_WORKDIR)/<part> to run it again).
reproduce-paper: $(INSTALLED)
	$(BIN)/python experiments/reproduce_paper.py --workdir=$(PAPER_WORKDIR)

reproduce-lines: $(INSTALLED)
	$(BIN)/python experiments/reproduce_paper.py --workdir=$(PAPER_WORKDIR) --parts=lines

# make sample RUN=runs/mnist/wgan_gp_dcgan [NUM=256] [FORMAT=png|npy]
RUN ?= runs/mnist/wgan_gp_dcgan
NUM ?= 64
FORMAT ?= png
sample: $(INSTALLED)
	$(BIN)/python experiments/sample.py --workdir=$(RUN) --num=$(NUM) --format=$(FORMAT)

# The PyTorch references run in their own environment (.venv/torch: torch, numpy, and the metric
# libraries of pyproject.toml's metrics-reference list): installed into .venv, torch would be
# imported by POT and tensorboardX in every run and test.
$(TORCH_BIN)/.installed: pyproject.toml | $(INSTALLED)
	$(PYTHON) -m venv $(VENV)/torch
	$(TORCH_BIN)/python -m pip install --quiet \
	  $$(grep -o -E '"(torch|numpy|scipy|pillow)==[^"]*"' pyproject.toml | sort -u | tr -d '"') \
	  $$(sed -n '/^metrics-reference = \[/,/^\]/p' pyproject.toml | grep -o '"[^"]*"' | tr -d '"')
	touch $@

# make inception-weights PTH=pt_inception-2015-12-05-6726825d.pth [NPZ=inception_fid.npz]: the
# weights of FID, KID and the Inception Score, converted once for wgan_jax (docs/metrics.md).
NPZ ?= inception_fid.npz
inception-weights: $(TORCH_BIN)/.installed
	@test -n "$(PTH)" || { echo "error: name the downloaded file: make inception-weights PTH=<file.pth>"; exit 2; }
	$(TORCH_BIN)/python -m wgan_jax.metrics.convert_inception $(PTH) $(NPZ)

bench: $(INSTALLED) $(TORCH_BIN)/.installed
	$(BIN)/python benchmarks/bench.py --torch_python=$(TORCH_BIN)/python

# The wheels benchmarks/device_check.sh installs on a GPU machine that cannot reach a registry
# (docs/performance.md#the-gpu-check): the pure-Python packages wgan_jax, its tests and the bench
# import that its image lacks (it has jax, flax, optax, orbax, chex, torch, matplotlib, pytest),
# at pyproject.toml's pins, for its CPython 3.12. Their own needs (absl-py, PyYAML, numpy,
# protobuf, packaging) are there already, hence --no-deps.
DEVICE_WHEELS := ml-collections tensorboardX
device-wheels:
	rm -rf .whl
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
	  $$(for p in $(DEVICE_WHEELS); do grep -o -E "\"$$p==[^\"]*\"" pyproject.toml | tr -d '"'; done)
	ls -l .whl

clean:
	rm -rf $(VENV) runs .pytest_cache .whl
