#!/usr/bin/env bash
# The test command of the README: installs what is missing, builds, lints, runs the whole suite.
# Safe to run on a fresh Debian machine as root, and again and again on a developer's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npm run --silent build
npm run --silent lint
npx mocha "$@"
