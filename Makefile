# The README's two commands: `make run` and `make test`. Both create .venv and install everything first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
export CHECKIN_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: install run test lint bench eval-faces clean

install: $(STAMP)

# dlib is installed from the prebuilt dlib-bin wheel, and face_recognition without its dependencies, because
# `pip install face_recognition` would compile dlib from source (minutes). face_recognition_models needs
# pkg_resources, which setuptools 81+ no longer ships.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=23' 'setuptools<81' wheel
	$(BIN)/python -m pip install --quiet dlib-bin
	$(BIN)/python -m pip install --quiet --no-deps 'face_recognition==1.3.0'
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/checkin init-db
	$(BIN)/checkin serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/verify_bench.py
	$(BIN)/python bench/video_bench.py
	$(BIN)/python bench/sweep_bench.py
	$(BIN)/python bench/checkin_bench.py

eval-faces: install
	$(BIN)/checkin eval-faces ../shared/faces/people ../shared/faces/east-asian --refs 3

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
