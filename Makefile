# fateops: `make demo` sets everything up and runs the demo; `make test` runs the whole test suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Debian packages the controller and the test hosts need (RabbitMQ and nginx: parties on several hosts;
# MariaDB and Redis: the model registry's tests).
DEB_PACKAGES := iproute2 procps lsof openssh-server openssh-client rabbitmq-server nginx libnginx-mod-stream \
  mariadb-server redis-server
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: setup system demo test lint unit integration molecule benchmarks clean

setup: system $(VENV)/.installed

# apt runs no package's service (a system-wide broker on 5672, nginx on 80): every party runs its own.
system:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "install these Debian packages first (as root): $$missing" >&2; exit 1; fi; \
	  echo "installing Debian packages: $$missing" >&2; \
	  policy=/usr/sbin/policy-rc.d; own_policy=; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy && chmod +x $$policy && own_policy=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  status=$$?; [ -n "$$own_policy" ] && rm -f $$policy; [ $$status = 0 ] || exit $$status; \
	fi

$(VENV)/.installed: requirements/controller.txt requirements/dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_QUIET) -r requirements/dev.txt 2> >(grep -v "is ignored: it is neither" >&2)
	touch $@

demo: setup
	$(PY) examples/demo.py

lint: setup
	ruff check .
	ruff format --check .
	ansible-lint --profile production

unit: setup
	pytest -q tests/unit

# Independent lanes of integration tests (own base dir and ports each, tests/integration/conftest.py) can run side
# by side in this many pytest-xdist workers. 1 (one after the other) until side by side is measured to win: on 2
# cores 3 workers took 41 min against 37 one after the other (FATE's task start-up is CPU-bound).
INTEGRATION_WORKERS ?= 1

integration: setup
	pytest -q -m integration --durations=25 $(if $(filter-out 1,$(INTEGRATION_WORKERS)),-n $(INTEGRATION_WORKERS) --dist loadgroup) tests/integration

molecule: setup
	molecule test -s default
	molecule test -s multiparty
	@if docker info >/dev/null 2>&1; then molecule test -s compose; \
	else echo "molecule compose: SKIPPED: no Docker engine answers 'docker info' on this host (the compose runtime's rendering and module logic are covered by tests/unit)" >&2; fi

test: lint unit integration molecule

benchmarks: setup
	$(PY) benchmarks/deploy.py

clean:
	rm -rf $(VENV) .demo .cache
