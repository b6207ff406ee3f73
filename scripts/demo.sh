#!/usr/bin/env bash
# The README's main job. Until the cluster pieces (fleet-lab, fleetd, fleetctl) land, it installs
# and builds, then checks the example unit files offline with `fleetctl verify`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npm run --silent build
echo "demo: verifying the example units offline (the 3-machine cluster demo lands with fleet-lab and fleetd)"
node bin/fleetctl.js verify examples/*.service examples/*.socket
