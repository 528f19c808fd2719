#!/usr/bin/env bash
# Regenerate binder/requirements.txt from uv.lock (repo2docker does not read uv.lock).
# tensorflow-federated is left out: its metadata pins jax==0.4.14, which no longer exists, so pip
# would refuse the set; postBuild installs it with --no-deps (its dependencies are all pinned here,
# jax/jaxlib at 0.4.13 as in pyproject's override-dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
uv export --frozen --no-hashes --no-emit-project --no-emit-package tensorflow-federated \
  --format requirements-txt -o binder/requirements.txt > /dev/null
