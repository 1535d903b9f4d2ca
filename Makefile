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
# cron-bench is its own package (Benchmarks/CronBench) over the Schedules library: a plain
# `swift build` of the root never builds it.
CRON_BENCH_BUILD = $(SWIFT) build --package-path Benchmarks/CronBench --scratch-path $(SCRATCH)-cron-bench
BIN_DIR = $(shell $(SWIFT_BUILD) -c $(CONFIG) --show-bin-path 2>/dev/null)
DB_URL = $(shell scripts/local-db.sh url)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# python3-venv: the deploy-file checks of `make test` install their validators into a venv.
APT_PACKAGES := libpq-dev libcurl4-openssl-dev postgresql pkg-config python3-venv
# The oldest Swift that builds the package (swift-tools-version in Package.swift).
SWIFT_MIN := 6.1

.PHONY: deps swift-check build release test check-deploy db-start db-stop run install bench soak embed-migrations embed-version clean

# Installs the C libraries, PostgreSQL and python3-venv only when something is missing.
# Without root it needs sudo: a missing sudo is a one-line hint, not a shell error.
deps: swift-check
	@missing=""; \
	pkg-config --exists libpq 2>/dev/null || missing="$$missing libpq-dev"; \
	pkg-config --exists libcurl 2>/dev/null || missing="$$missing libcurl4-openssl-dev"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ -n "$(SUDO)" ] && ! command -v sudo >/dev/null; then \
	    echo "make deps: missing$$missing; run 'make deps' as root, or install sudo, or install them yourself: apt-get install$$missing" >&2; \
	    exit 1; \
	  fi; \
	  if ! command -v apt-get >/dev/null; then \
	    echo "make deps: missing$$missing, and there is no apt-get: install the equivalent packages, then run make again" >&2; \
	    exit 1; \
	  fi; \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

# Swift is not an apt package (Debian's "swift" is OpenStack Swift, an object store): say
# where to get it instead of failing with "swift: command not found ... Error 127".
swift-check:
	@command -v $(SWIFT) >/dev/null 2>&1 || { \
	  echo "make: '$(SWIFT)' not found: install Swift $(SWIFT_MIN) or newer from https://www.swift.org/install/linux/ (swiftly, or a toolchain tarball) and put it on PATH; Debian's 'apt install swift' is OpenStack Swift, not the language" >&2; \
	  exit 1; }
	@version=$$($(SWIFT) --version 2>/dev/null | sed -n 's/.*Swift version \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1); \
	if [ -n "$$version" ] && [ "$$(printf '%s\n' "$(SWIFT_MIN)" "$$version" | sort -V | head -n 1)" != "$(SWIFT_MIN)" ]; then \
	  echo "make: Swift $$version is too old: this package needs Swift $(SWIFT_MIN) or newer (https://www.swift.org/install/linux/)" >&2; \
	  exit 1; \
	fi

embed-migrations:
	@scripts/embed-migrations.sh

# Sources/CBuildInfo/build_version.h: VERSION + the git commit (not committed; without it the
# binary says 0.0.0-unknown, so a plain `swift build` of a fresh clone still works).
embed-version:
	@scripts/embed-version.sh

build: deps embed-migrations embed-version
	$(SWIFT_BUILD) -c $(CONFIG)

# The Swift runtime linked statically: a one-shot process started every minute saves the
# dynamic loading of libswiftCore & co. (measured: about 15% of an idle cycle).
release: deps embed-migrations embed-version
	$(SWIFT_BUILD) -c release --static-swift-stdlib

db-start: deps
	@scripts/local-db.sh start

db-stop:
	@scripts/local-db.sh stop

# deploy/ files: systemd-analyze verify, kubernetes-validate, hadolint (tools installed on first use).
check-deploy:
	@scripts/check-deploy.sh

# Tests find their PostgreSQL through DISPATCH_DUE_TEST_DATABASE_URL and create a private
# database each; the binaries they spawn are found through DISPATCH_DUE_BIN_DIR. A plain
# `swift test` (no URL) skips the database suites; here DISPATCH_DUE_TEST_STRICT=1 makes
# anything missing (database, deploy validators, embedded version) fail instead of skip, and
# an empty admin URL stops before the run.
test: build db-start check-deploy
	$(SWIFT_BUILD) --build-tests
	@url="$$(scripts/local-db.sh admin-url)"; \
	if [ -z "$$url" ]; then echo "make test: scripts/local-db.sh gave no admin URL: the database tests cannot run" >&2; exit 1; fi; \
	set -x; \
	DISPATCH_DUE_TEST_DATABASE_URL="$$url" \
	DISPATCH_DUE_TEST_STRICT=1 \
	DISPATCH_DUE_BIN_DIR="$$($(SWIFT_BUILD) --show-bin-path)" \
	DISPATCH_DUE_REPO_DIR="$(CURDIR)" \
	  $(SWIFT) test --scratch-path $(SCRATCH) --skip-build $(if $(FILTER),--filter '$(FILTER)')

run: build db-start
	@DATABASE_URL="$(DB_URL)" $(BIN_DIR)/dispatch-due migrate
	@scripts/run-local.sh "$(BIN_DIR)" "$(DB_URL)"

# The stripped binary, its man page (argument-parser's generate-manual reads the binary's
# --experimental-dump-help) and the completions the binary generates for bash, zsh and fish.
# DESTDIR for packaging: make install DESTDIR=/tmp/pkg PREFIX=/usr
install: release
	@set -euo pipefail; \
	bin="$$($(SWIFT_BUILD) -c release --static-swift-stdlib --show-bin-path)"; \
	$(SWIFT_BUILD) -c release --static-swift-stdlib --product generate-manual >/dev/null; \
	root="$(DESTDIR)$(PREFIX)"; \
	install -D -s -m 0755 "$$bin/dispatch-due" "$$root/bin/dispatch-due"; \
	man=$$(mktemp -d); trap 'rm -rf "$$man"' EXIT; \
	"$$bin/generate-manual" "$$bin/dispatch-due" --output-directory "$$man"; \
	install -D -m 0644 "$$man/dispatch-due.1" "$$root/share/man/man1/dispatch-due.1"; \
	"$$bin/dispatch-due" --generate-completion-script bash > "$$man/bash"; \
	"$$bin/dispatch-due" --generate-completion-script zsh > "$$man/zsh"; \
	"$$bin/dispatch-due" --generate-completion-script fish > "$$man/fish"; \
	install -D -m 0644 "$$man/bash" "$$root/share/bash-completion/completions/dispatch-due"; \
	install -D -m 0644 "$$man/zsh" "$$root/share/zsh/site-functions/_dispatch-due"; \
	install -D -m 0644 "$$man/fish" "$$root/share/fish/vendor_completions.d/dispatch-due.fish"; \
	echo "installed $$root/bin/dispatch-due ($$("$$root/bin/dispatch-due" --version)), man page, completions"

# Benchmarks (BENCHMARKS.md): a release build like `make release`, its own PostgreSQL cluster
# (scripts/local-db.sh start bench, and bench-durable with fsync on), stand-in endpoint and nginx;
# about ten minutes. BENCH_ARGS=--quick for a smoke run, BENCH_ARGS="--only burst,sweep" for parts.
# nginx (TLS + HTTP/2 in front of the stand-in), openssl (a private CA per run) and GNU time
# (a process's own peak RSS) are installed on first use.
bench: deps embed-migrations embed-version
	@missing=""; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	[ -x /usr/bin/time ] || missing="$$missing time"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(SWIFT_BUILD) -c release --static-swift-stdlib
	$(CRON_BENCH_BUILD) -c release --static-swift-stdlib
	python3 Benchmarks/bench.py --bin "$$($(SWIFT_BUILD) -c release --static-swift-stdlib --show-bin-path)" \
	  --cron-bin "$$($(CRON_BENCH_BUILD) -c release --static-swift-stdlib --show-bin-path)" $(BENCH_ARGS)

# Long fault drills: random SIGKILLs, PostgreSQL restarts and a misbehaving endpoint over many
# cycles, then nothing lost or doubled (its own cluster "soak"). SOAK_ARGS=--cycles N.
soak: deps embed-migrations embed-version
	$(SWIFT_BUILD) -c release --static-swift-stdlib
	python3 Benchmarks/soak.py --bin "$$($(SWIFT_BUILD) -c release --static-swift-stdlib --show-bin-path)" $(SOAK_ARGS)

clean:
	rm -rf .build .build-*
