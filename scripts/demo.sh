#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, checks the example unit files offline,
# and brings up a 3-machine fleet-lab cluster (real systemd as PID 1 in each machine, an etcd on
# the lab's bridge) that stays up for you to use. Placing the example units on it arrives with
# fleetd (engine + agent); until then the demo shows the cluster they will run on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npm run --silent build

lab() { node bin/fleet-lab.js --name demo "$@"; }

echo "== fleetctl verify: the example units, checked offline"
node bin/fleetctl.js verify examples/*.service examples/*.socket

if [ -f /run/fleet-lab/demo/state.json ]; then
  echo "== a demo cluster is already up; taking it down first"
  lab down
fi

echo "== fleet-lab up: 3 machines with metadata"
lab up --machines 3 --agent-ttl 5 \
  --metadata m1:role=web,region=eu --metadata m2:role=web,region=us --metadata m3:role=db,region=eu

echo "== each machine's own systemd, asked from inside the machine"
for m in m1 m2 m3; do
  printf '%s: hostname=%s system=%s machine-id=%s\n' "$m" \
    "$(lab exec "$m" -- hostname)" \
    "$(lab exec "$m" -- systemctl is-system-running || true)" \
    "$(lab exec "$m" -- cat /etc/machine-id)"
done

echo "== fleet-lab status"
lab status

cat <<'MSG'

The cluster is up and stays up. Try:
  node bin/fleet-lab.js --name demo exec m1 -- systemctl list-units --type=service
  node bin/fleet-lab.js --name demo cut m2 ; node bin/fleet-lab.js --name demo heal m2
  node bin/fleet-lab.js --name demo status
Take it down (removes every process, mount, link and file it made):
  node bin/fleet-lab.js --name demo down
MSG
