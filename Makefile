# Every target sets up what it needs: on a fresh clone, `make demo` and `make test` just work.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < requirements-dev.txt | cut -d' ' -f1)
SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed-$(shell cksum < requirements-scan.txt | cut -d' ' -f1)
# The Lambda runtime's Python (python3.13 in template.yaml), for make test-py313.
PY313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13.0/bin/python3.13) python3.13)
VENV313 := .venv313
STAMP313 := $(VENV313)/.installed-$(shell cksum < requirements-dev.txt | cut -d' ' -f1)
# The handler and unit tests, by path until the suites carry markers (the handler tests are moving to tests/handlers).
PY313_TESTS ?= $(wildcard tests/integration/test_handlers.py tests/handlers) tests/unit
export SAM_CLI_TELEMETRY := 0

.PHONY: help demo test test-py313 py313-pytest bench lint format validate scan pytest build lock clean

help:
	@echo "make demo      set up and run the default simulated patch run"
	@echo "make test      set up, lint, validate the template and run the tests"
	@echo "make test-py313  the handler and unit tests under Python 3.13, the Lambda runtime's (skipped if absent)"
	@echo "make bench     benchmark 4 to 2,000 instances on virtual time (about 10 minutes)"
	@echo "make build     sam build (no Docker needed)"
	@echo "make lock      re-pin requirements-dev.txt from requirements-dev.in"

$(STAMP): requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/python -m simulator run

test: lint validate scan pytest

# checkov on the template: the checks skipped for every function are in .checkov.yaml, the others in the
# template, next to the resource; each with its reason.
scan: $(SCAN_STAMP)
	$(SCAN_VENV)/bin/checkov --config-file .checkov.yaml -f template.yaml --framework cloudformation --quiet --compact --skip-download

$(SCAN_STAMP): requirements-scan.txt
	test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	rm -f $(SCAN_VENV)/.installed-*
	touch $@

# The functions and the layer under the Lambda runtime's Python, in their own venv from the same pins. Where that
# Python is absent (set PY313=/path/to/python3.13), it says so and skips: exit 0, but never silently.
test-py313:
	@if $(PY313) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then \
		$(MAKE) --no-print-directory py313-pytest; \
	else \
		echo "test-py313: SKIPPED: no Python 3.13 at '$(PY313)' (set PY313=/path/to/python3.13)."; \
		echo "test-py313: the functions and the layer were NOT tested under the Lambda runtime's Python."; \
	fi

py313-pytest: $(STAMP313)
	$(VENV313)/bin/python -V
	$(VENV313)/bin/pytest $(PY313_TESTS)

$(STAMP313): requirements-dev.txt
	test -x $(VENV313)/bin/python || $(PY313) -m venv $(VENV313)
	$(VENV313)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV313)/.installed-*
	touch $@

bench: $(STAMP)
	$(BIN)/python -m simulator bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The template is also checked with the optional Slack parameter set (its condition creates the subscriber).
validate: $(STAMP)
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint
	mkdir -p .aws-sam
	sed '/^  SlackWebhookSecretName:/,/Default:/s|Default: ""|Default: slack/patching-webhook|' template.yaml > .aws-sam/template-with-slack.yaml
	grep -q 'Default: slack/patching-webhook' .aws-sam/template-with-slack.yaml
	$(BIN)/cfn-lint .aws-sam/template-with-slack.yaml
	$(BIN)/sam validate --lint -t .aws-sam/template-with-slack.yaml

pytest: $(STAMP)
	$(BIN)/pytest

build: $(STAMP)
	$(BIN)/sam build

# statemachine/build.py writes the state machine's JSON (stdlib only); edit it, not the JSON.
.PHONY: statemachine
statemachine: statemachine/rolling_patch.asl.json
statemachine/rolling_patch.asl.json: statemachine/build.py
	$(PYTHON) statemachine/build.py
build demo bench: statemachine/rolling_patch.asl.json

lock:
	rm -rf /tmp/asg-rolling-patch-lock && $(PYTHON) -m venv /tmp/asg-rolling-patch-lock
	/tmp/asg-rolling-patch-lock/bin/pip install --quiet -r requirements-dev.in
	(echo "# Generated from requirements-dev.in with 'make lock'; do not edit by hand."; \
	 /tmp/asg-rolling-patch-lock/bin/pip freeze --exclude-editable) > requirements-dev.txt

clean:
	rm -rf $(VENV) $(SCAN_VENV) $(VENV313) .aws-sam .pytest_cache .ruff_cache
