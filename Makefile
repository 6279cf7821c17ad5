# Every target creates .venv and installs the pinned dependencies when they are missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
WORKDIR ?= runs/gaussians
MNIST_WORKDIR ?= runs/mnist

.PHONY: install test reproduce-gaussians reproduce-mnist sample clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("wgan-jax needs Python 3.11 or newer, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,images]'
	touch $@

test: $(INSTALLED)
	$(BIN)/python -m pytest -q

reproduce-gaussians: $(INSTALLED)
	$(BIN)/python experiments/gaussians.py --workdir=$(WORKDIR)

reproduce-mnist: $(INSTALLED)
	$(BIN)/python experiments/reproduce_mnist.py --workdir=$(MNIST_WORKDIR)

# make sample RUN=runs/mnist/wgan_gp_dcgan [NUM=256] [FORMAT=png|npy]
RUN ?= runs/mnist/wgan_gp_dcgan
NUM ?= 64
FORMAT ?= png
sample: $(INSTALLED)
	$(BIN)/python experiments/sample.py --workdir=$(RUN) --num=$(NUM) --format=$(FORMAT)

clean:
	rm -rf $(VENV) runs .pytest_cache
