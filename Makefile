# dispatch-due — build, test and run locally.
#   make run    deps, build, a private PostgreSQL under .local/, migrations, one dispatch cycle
#   make test   the whole test suite against that private PostgreSQL
SHELL := /bin/bash
SWIFT ?= swift
PREFIX ?= /usr/local
DESTDIR ?=
CONFIG ?= debug
# SCRATCH: a separate build folder (e.g. .build-mine) so several builds can run side by side.
SCRATCH ?= .build
# FILTER: run only the tests whose names match (swift test --filter).
FILTER ?=
SWIFT_BUILD = $(SWIFT) build --scratch-path $(SCRATCH)
BIN_DIR = $(shell $(SWIFT_BUILD) -c $(CONFIG) --show-bin-path 2>/dev/null)
DB_URL = $(shell scripts/local-db.sh url)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := libpq-dev libcurl4-openssl-dev postgresql pkg-config

.PHONY: deps build release test check-deploy db-start db-stop run install bench soak embed-migrations clean

# Installs the C libraries and PostgreSQL only when something is missing.
deps:
	@missing=""; \
	pkg-config --exists libpq 2>/dev/null || missing="$$missing libpq-dev"; \
	pkg-config --exists libcurl 2>/dev/null || missing="$$missing libcurl4-openssl-dev"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

embed-migrations:
	@scripts/embed-migrations.sh

build: deps embed-migrations
	$(SWIFT_BUILD) -c $(CONFIG)

# The Swift runtime linked statically: a one-shot process started every minute saves the
# dynamic loading of libswiftCore & co. (measured: about 15% of an idle cycle).
release: deps embed-migrations
	$(SWIFT_BUILD) -c release --static-swift-stdlib

db-start: deps
	@scripts/local-db.sh start

db-stop:
	@scripts/local-db.sh stop

# deploy/ files: systemd-analyze verify, kubernetes-validate, hadolint (tools installed on first use).
check-deploy:
	@scripts/check-deploy.sh

# Tests find their PostgreSQL through DISPATCH_DUE_TEST_DATABASE_URL and create a private
# database each; the binaries they spawn are found through DISPATCH_DUE_BIN_DIR.
test: build db-start check-deploy
	$(SWIFT_BUILD) --build-tests
	DISPATCH_DUE_TEST_DATABASE_URL="$$(scripts/local-db.sh admin-url)" \
	DISPATCH_DUE_BIN_DIR="$$($(SWIFT_BUILD) --show-bin-path)" \
	DISPATCH_DUE_REPO_DIR="$(CURDIR)" \
	  $(SWIFT) test --scratch-path $(SCRATCH) --skip-build $(if $(FILTER),--filter '$(FILTER)')

run: build db-start
	@DATABASE_URL="$(DB_URL)" $(BIN_DIR)/dispatch-due migrate
	@scripts/run-local.sh "$(BIN_DIR)" "$(DB_URL)"

install: release
	install -D -m 0755 "$$($(SWIFT_BUILD) -c release --static-swift-stdlib --show-bin-path)/dispatch-due" "$(DESTDIR)$(PREFIX)/bin/dispatch-due"

# Benchmarks (BENCHMARKS.md): a release build like `make release`, its own PostgreSQL cluster
# (scripts/local-db.sh start bench, and bench-durable with fsync on), stand-in endpoint and nginx;
# about ten minutes. BENCH_ARGS=--quick for a smoke run, BENCH_ARGS="--only burst,sweep" for parts.
# nginx (TLS + HTTP/2 in front of the stand-in), openssl (a private CA per run) and GNU time
# (a process's own peak RSS) are installed on first use.
bench: deps embed-migrations
	@missing=""; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	[ -x /usr/bin/time ] || missing="$$missing time"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(SWIFT_BUILD) -c release --static-swift-stdlib
	python3 Benchmarks/bench.py --bin "$$($(SWIFT_BUILD) -c release --static-swift-stdlib --show-bin-path)" $(BENCH_ARGS)

# Long fault drills: random SIGKILLs, PostgreSQL restarts and a misbehaving endpoint over many
# cycles, then nothing lost or doubled (its own cluster "soak"). SOAK_ARGS=--cycles N.
soak: deps embed-migrations
	$(SWIFT_BUILD) -c release --static-swift-stdlib
	python3 Benchmarks/soak.py --bin "$$($(SWIFT_BUILD) -c release --static-swift-stdlib --show-bin-path)" $(SOAK_ARGS)

clean:
	rm -rf .build .build-*
