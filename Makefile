# Two commands for a fresh machine:  `make demo`  and  `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test browser clean gpu-check

# Set-up: a venv with the CPU torch wheel (pinned: a looser spec can pull a multi-GB CUDA build),
# the package and test extras, then sru's one-off C++ kernel compile (~40 s).
$(VENV)/.installed: pyproject.toml runtime/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install -q torch==2.13.0 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install -q -e ./runtime -e '.[test]' 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import xarchkd, xarchkd_runtime, students, recipes"
	$(PY) -m students._sru
	touch $@

setup: $(VENV)/.installed

# The default recipe end to end, sized to stay within 20 minutes on 2 cores (recipes/bert-lstm-ner-demo.toml:
# bert-lstm-ner on 2,000 CoNLL-2003 sentences, short schedules; 7.2-7.9 min whole on a fresh clone): fetches the teacher
# and data once, fine-tunes the teacher, caches its logits, distils the BiLSTM, prints the result table.
demo: setup
	$(VENV)/bin/xarchkd resources conll2003 minilm-l6
	$(VENV)/bin/xarchkd run bert-lstm-ner-demo

# The web demo's browser test drives Debian's chromium through chromedriver (installed here when
# missing and apt-get is available; without them that one test is skipped, saying why).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { command -v apt-get >/dev/null && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "chromium not installed: the browser test will be skipped"

# One pytest worker per core (pytest-xdist), one torch thread per worker (tests/conftest.py).
test: setup browser
	$(PY) -m pytest -q -n auto

# For a person with a CUDA GPU: the GPU tests (pytest -m gpu), a teacher-cache build, and per block (lstm, sru,
# srupp, cnn) x fp32/bf16 a short distillation on a CoNLL-2003 slice plus a kill + resume compared with an
# unbroken run; prints a table and writes runs/gpu-check/gpu_check.{md,json}. Without a GPU it says so and exits 0
# (`benchmarks/gpu_check.py --cpu` checks the script itself on a CPU with tiny settings).
#
# On a lent GPU box whose pip has no index (its python3 has torch+CUDA, transformers, accelerate, pytest; not
# seqeval, sru, datasets, dill, multiprocess), prepare here once, in the checkout's root (~8 MB, two ignored folders;
# this project's own wheel brings the recipes' entry points; minilm-l6 travels as its tokenizer only, plus an empty
# weights file as fetch's marker: the check's teacher is random):
#   echo /.whl/ >> .git/info/exclude; echo /.xhome/ >> .git/info/exclude
#   .venv/bin/pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux2014_x86_64 -d .whl sru==3.0.0.dev6 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 && .venv/bin/pip wheel -q --no-deps -w .whl seqeval==1.2.2 && .venv/bin/pip wheel -q --no-deps --no-build-isolation -w .whl . ./runtime
#   mkdir -p .xhome/minilm-l6 && cp -r ~/.cache/xarchkd/conll2003 ~/.cache/xarchkd/names .xhome/ && cp ~/.cache/xarchkd/minilm-l6/*.json ~/.cache/xarchkd/minilm-l6/vocab.txt .xhome/minilm-l6/ && touch .xhome/minilm-l6/model.safetensors
# then on the box, in a copy of the checkout with .whl and .xhome (the device tool: carry [".whl", ".xhome"]), one command:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && PYTHONPATH=/tmp/site HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false XARCHKD_HOME=$PWD/.xhome python3 benchmarks/gpu_check.py --out ${OUT:-runs/gpu-check}
gpu-check: setup
	$(PY) benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) runs .pytest_cache
