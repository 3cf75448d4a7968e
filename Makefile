# Two commands for a fresh machine:  `make demo`  and  `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test browser clean

# Set-up: a venv with the CPU torch wheel (pinned: a looser spec can pull a multi-GB CUDA build),
# the package and test extras, then sru's one-off C++ kernel compile (~40 s).
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install -q torch==2.13.0 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install -q -e '.[test]' 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import xarchkd, students, recipes"
	$(PY) -m students._sru
	touch $@

setup: $(VENV)/.installed

# The default recipe end to end on the bundled teacher and data (fetches them once, reuses the
# fine-tuned teacher and the logits cache on later runs), then prints the result table.
demo: setup
	$(VENV)/bin/xarchkd resources conll2003 minilm-l6
	$(VENV)/bin/xarchkd run bert-sru-ner

# The web demo's browser test drives Debian's chromium through chromedriver (installed here when
# missing and apt-get is available; without them that one test is skipped, saying why).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { command -v apt-get >/dev/null && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "chromium not installed: the browser test will be skipped"

test: setup browser
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
