# Two commands: `make demo` and `make test`. Each sets everything up first
# (virtualenv, dependencies, compiled extension), so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.pose-tf-installed
EXT_SOURCES := $(wildcard pose_tf/grouping/*.pyx pose_tf/grouping/cpp/* pose_tf/tracking/*.pyx pose_tf/tracking/cpp/*)


DEMO_OUT ?= out/demo

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py requirements.txt $(EXT_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,dev]'
	touch $@

demo: install
	$(VENV)/bin/pose-tf demo $(DEMO_ARGS) --out $(DEMO_OUT)

test: install
	$(PY) -m pytest -q tests

bench: install
	for b in bench/*.py; do $(PY) $$b --json out/bench/$$(basename $$b .py).json || exit 1; done

clean:
	rm -rf build *.egg-info pose_tf/grouping/*.so pose_tf/grouping/_grouping.cpp \
		pose_tf/tracking/*.so pose_tf/tracking/_pairs.cpp
