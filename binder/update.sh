#!/usr/bin/env bash
# Regenerate binder/requirements.txt from uv.lock (repo2docker does not read uv.lock).
# Usage: binder/update.sh [OUTPUT]   (default binder/requirements.txt; tests/test_binder.py writes
# to a temporary file and compares, so a stale requirements.txt fails the tests).
#
# --no-dev: the dev group (pytest, hypothesis, playwright) is for the tests, not for Binder users.
# Left out and installed by postBuild with --no-deps instead, because their metadata contradicts
# pyproject's [tool.uv] override-dependencies and pip (which repo2docker runs on this file) would
# refuse the whole set with ResolutionImpossible:
#   tensorflow-federated  pins jax==0.4.14 (gone from the registry) and typing-extensions~=4.5;
#   tensorflow-privacy    pins packaging~=22.0 (JupyterLab 4.5 needs a newer packaging).
# Their other dependencies are all pinned in requirements.txt (jax/jaxlib at 0.4.13).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-binder/requirements.txt}"
"${UV:-uv}" export --frozen --no-hashes --no-dev --no-emit-project \
  --no-emit-package tensorflow-federated --no-emit-package tensorflow-privacy \
  --format requirements-txt -o "$out" > /dev/null
