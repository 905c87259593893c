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
# "yes" where $(PY313) is a Python 3.13 (expanded only by the targets that ask)
HAVE_PY313 = $(shell $(PY313) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && echo yes)
export SAM_CLI_TELEMETRY := 0

.PHONY: help demo check venvs test test-py313 py313-pytest bench lint format validate validate-default validate-slack validate-e2e scan pytest build package publish e2e e2e-plan lock clean

help:
	@echo "make demo      set up and run the default simulated patch run"
	@echo "make check     lint and the quick tests: no simulation, fuzz or build (under a minute)"
	@echo "make test      set up, lint, validate and scan the template and run all the tests (in parallel)"
	@echo "make venvs     install the venvs side by side: .venv, .venv-scan and .venv313 (where Python 3.13 is)"
	@echo "make test-py313  the quick (unit and handler) tests under Python 3.13, the Lambda runtime's (skipped if absent)"
	@echo "make bench     benchmark 4 to 2,000 instances on virtual time (about 10 minutes)"
	@echo "make build     sam build (no Docker needed)"
	@echo "make package BUCKET=<bucket> [REGION=us-east-1]  sam build, then sam package to .aws-sam/packaged.yaml"
	@echo "make publish BUCKET=<bucket> [REGION=us-east-1]  make package, then sam publish it to the Serverless Application Repository"
	@echo "make e2e [REGION=us-east-1] [E2E_ARGS=--yes]  deploy the stack and a test fleet in your AWS account, run a DryRun, a Scan and an Install, check, delete everything (costs money: it says how much and asks first)"
	@echo "make e2e-plan  what make e2e would create and every AWS call it would make, offline"
	@echo "make lock      re-pin requirements-dev.txt from requirements-dev.in"

$(STAMP): requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/python -m simulator run

# The quick tests: every test but the slow kinds (the markers in pyproject.toml).
QUICK_TESTS := not simulation and not fuzz and not build
# pytest-xdist workers, one per core; a worker that runs out of tests takes some of the other's (worksteal: the
# slow simulation tests would otherwise leave one worker idle for minutes at the end). A module's fixtures are set
# up once per worker that runs its tests (so sam build may run on both, each in a temporary directory of its own).
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist worksteal

check: lint
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "$(QUICK_TESTS)" $(PYTEST_ARGS)

# Every venv the targets use, installed side by side (pip waits on the network most of the time, and the three
# take minutes one after the other on a fresh machine); .ci/run starts with it.
venvs:
	$(MAKE) --no-print-directory --jobs $(STAMP) $(SCAN_STAMP) $(if $(HAVE_PY313),$(STAMP313))

# Every step, independent of the others, at once: each one's output is printed whole when it ends (pytest's
# last), every step runs even if another fails, and make test fails if any did.
test: $(STAMP) $(SCAN_STAMP)
	$(MAKE) --no-print-directory --jobs --keep-going --output-sync=target lint validate scan pytest

# checkov on the template: the checks skipped for every function are in .checkov.yaml, the others in the
# template, next to the resource; each with its reason.
scan: $(SCAN_STAMP)
	$(SCAN_VENV)/bin/checkov --config-file .checkov.yaml -f template.yaml --framework cloudformation --quiet --compact --skip-download

$(SCAN_STAMP): requirements-scan.txt
	test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	rm -f $(SCAN_VENV)/.installed-*
	touch $@

# The quick tests (unit and handler tests: the functions and the layer) under the Lambda runtime's Python, in a
# venv of their own from the same pins. Where that Python is absent (set PY313=/path/to/python3.13), it says so
# and skips: exit 0, but never silently.
test-py313:
	@if [ -n "$(HAVE_PY313)" ]; then \
		$(MAKE) --no-print-directory py313-pytest; \
	else \
		echo "test-py313: SKIPPED: no Python 3.13 at '$(PY313)' (set PY313=/path/to/python3.13)."; \
		echo "test-py313: the functions and the layer were NOT tested under the Lambda runtime's Python."; \
	fi

py313-pytest: $(STAMP313)
	$(VENV313)/bin/python -V
	$(VENV313)/bin/pytest $(PYTEST_PARALLEL) -m "$(QUICK_TESTS)" $(PYTEST_ARGS)

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
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# sam validate --lint runs cfn-lint (the same rules, configuration and matches as the cfn-lint command) on the
# template, which is also checked with the optional Slack parameter set (its condition creates the subscriber), and
# cfn-lint on the e2e fleet's template.
validate: validate-default validate-slack validate-e2e

validate-default: $(STAMP)
	$(BIN)/sam validate --lint

# The e2e test fleet's own template (plain CloudFormation): cfn-lint, which sam-cli depends on.
validate-e2e: $(STAMP)
	$(BIN)/cfn-lint tests/e2e/fleet.yaml

validate-slack: $(STAMP)
	mkdir -p .aws-sam
	sed '/^  SlackWebhookSecretName:/,/Default:/s|Default: ""|Default: slack/patching-webhook|' template.yaml > .aws-sam/template-with-slack.yaml
	grep -q 'Default: slack/patching-webhook' .aws-sam/template-with-slack.yaml
	$(BIN)/sam validate --lint -t .aws-sam/template-with-slack.yaml

# More pytest options: make pytest PYTEST_ARGS=--durations=40
pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

build: $(STAMP)
	$(BIN)/sam build

# Packaging for the Serverless Application Repository: sam package uploads the built code, LICENSE and README.md to
# BUCKET (in REGION; its policy must let serverlessrepo.amazonaws.com read the objects) and writes the template that
# refers to them, which sam publish creates the application version from (SemanticVersion in template.yaml's
# metadata): https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-template-publishing-applications.html
REGION ?= us-east-1
BUCKET ?=
PACKAGED := .aws-sam/packaged.yaml

package: $(STAMP) statemachine/rolling_patch.asl.json
	@test -n "$(BUCKET)" || { echo "make package needs BUCKET=<an S3 bucket in $(REGION)>"; exit 2; }
	$(BIN)/sam build
	$(BIN)/sam package --no-resolve-s3 --s3-bucket $(BUCKET) --s3-prefix asg-rolling-patch --region $(REGION) \
		--output-template-file $(PACKAGED)

publish: package
	@! grep -q 'SourceCodeUrl: https://github.com/your-org/' template.yaml || \
		{ echo "make publish: set SourceCodeUrl in template.yaml's metadata to your repository first"; exit 2; }
	$(BIN)/sam publish --template $(PACKAGED) --region $(REGION) --fail-on-same-version

# The end-to-end check in your own AWS account (tests/e2e/run_e2e.py): it states its cost and asks first (E2E_ARGS=--yes
# does not ask), and deletes everything it created, also when it fails. e2e-plan prints what it would create and every
# call it would make, without AWS; make test runs it (tests/e2e/test_e2e_plan.py).
E2E_ARGS ?=
E2E := PYTHONPATH=layers/autopatch/python$(if $(PYTHONPATH),:$(PYTHONPATH)) $(BIN)/python tests/e2e/run_e2e.py --region $(REGION)

e2e: $(STAMP) statemachine/rolling_patch.asl.json
	$(E2E) $(E2E_ARGS)

e2e-plan: $(STAMP)
	$(E2E) --plan $(E2E_ARGS)

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
