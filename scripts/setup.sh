#!/usr/bin/env bash
# Create .venv and install Synthpipe with its dev tools. Torch goes first: `torch==2.13.0` is the
# local CPU wheel here; any other torch request would pull GBs of CUDA wheels.
# Prints one line per package pip collects and the time of each phase; pip's full output is in
# .venv/setup.log, and its tail is shown when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
log=.venv/setup.log

step() {  # step "what" command...: run a pip step, show its progress, time it
  local what=$1 started=$SECONDS
  shift
  echo "==> $what"
  # `|| true`: grep finding nothing (all installed already) is fine; pip's status still counts.
  if ! "$@" 2>&1 | tee -a "$log" \
      | { grep --line-buffered -E '^(Collecting|Successfully installed)' || true; } \
      | sed -u -e 's/^Collecting /  collecting /' -e 's/^Successfully installed .*/  installed/'; then
    echo "FAILED: $what; the last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  echo "    done in $((SECONDS - started)) s"
}

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv ($(python3 --version))"
  python3 -m venv .venv
fi
: > "$log"
step "torch 2.13.0 (the local CPU wheel)" .venv/bin/python -m pip install --progress-bar off torch==2.13.0
step "Synthpipe and its dependencies (-e .[dev]; a few minutes on a fresh machine)" \
  .venv/bin/python -m pip install --progress-bar off -e ".[dev]"
echo "Setup complete in ${SECONDS} s: .venv/bin/synth, .venv/bin/python -m pytest"
