#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, and brings up a 3-machine fleet-lab
# cluster (real systemd as PID 1 in each machine, fleetd — API, engine candidate, agent — running
# in each as a systemd service, an etcd on the lab's bridge). Then it starts the example units
# with fleetctl and shows where they run: placement by metadata, a global unit, and a
# socket-activated service answering a request. The cluster stays up for you to use.
#
# DEMO_NAME=NAME npm run demo: the fleet-lab cluster's name (default "demo"), so that two demos
# (e.g. two people on one host) do not take each other's cluster down.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${DEMO_NAME:-demo}"
bash scripts/ensure-deps.sh
npm run --silent build

lab() { node bin/fleet-lab.js --name "$name" "$@"; }
fail() {
  echo "demo: $*" >&2
  echo "demo: the cluster is left up to look at; take it down with: node bin/fleet-lab.js --name $name down" >&2
  exit 1
}

echo "== fleetctl verify: the example units, checked offline"
node bin/fleetctl.js verify examples/*.service examples/*.socket

if [ -f "/run/fleet-lab/$name/state.json" ]; then
  echo "== a cluster named $name is already up; taking it down first"
  lab down
fi

echo "== fleet-lab up: 3 machines, each running fleetd under its own systemd"
# (up's progress goes to stderr as it happens; its stdout, the export line, is kept and printed)
up_out=$(lab up --machines 3 --agent-ttl 5 --fleetd \
  --metadata m1:role=web,region=eu --metadata m2:role=web,region=us --metadata m3:role=db,region=eu)
printf '%s\n' "$up_out"
export_line=$(grep '^export ' <<<"$up_out")
eval "$export_line"
trap 'echo "demo: a step failed (line $LINENO); the cluster is left up to look at; take it down with: node bin/fleet-lab.js --name $name down" >&2' ERR
fleetctl() { node bin/fleetctl.js "$@"; }

printf '== waiting for the 3 machines to register'
registered=0
for _ in $(seq 150); do
  registered=$(fleetctl list-machines --no-legend 2>/dev/null | wc -l)
  [ "$registered" = 3 ] && break
  printf '.'
  sleep 0.2
done
echo
[ "$registered" = 3 ] || fail "only $registered of 3 machines registered within 30 s"
fleetctl list-machines

echo "== fleetctl start: hello.service (role=web), heartbeat.service (global), echo.socket + echo.service"
fleetctl start examples/hello.service examples/heartbeat.service
fleetctl start --no-block examples/echo.socket
fleetctl load --no-block examples/echo.service
listening=no
for _ in $(seq 150); do
  fleetctl list-units --no-legend | grep -q '^echo.socket.*listening' && listening=yes && break
  sleep 0.2
done
fleetctl list-units
[ "$listening" = yes ] || fail "echo.socket was not listening within 30 s"

# machine_of UNIT: the fleet-lab machine (m1..m3) that runs UNIT, per fleetctl list-units.
machine_of() {
  local ip
  ip=$(fleetctl list-units --no-legend --fields unit,machine --full | awk -v u="$1" '$1 == u { split($2, a, "/"); print a[2]; exit }')
  lab status | awk -v ip="$ip" '$2 == ip { print $1 }'
}
hello_on=$(machine_of hello.service)
echo "== placement by metadata: hello.service and echo.socket want role=web (m1, m2): hello.service is on $hello_on, echo.socket on $(machine_of echo.socket); heartbeat.service is global: one on each machine"

echo "== a request to echo.socket, made on its machine: systemd starts echo.service, which answers"
machine=$(machine_of echo.socket)
[ -n "$machine" ] || fail "cannot tell which machine runs echo.socket from fleetctl list-units"
answer=$(lab exec "$machine" -- node -e "
  const s = require('net').connect(7777, '127.0.0.1', () => s.end('hello, echo'));
  s.on('data', (d) => console.log('$machine answered: ' + d));") || true
[ -n "$answer" ] || fail "echo.socket on $machine did not answer"
echo "$answer"

cat <<MSG

The cluster "$name" is up and stays up. To use fleetctl against it, in your shell, from $PWD:
  $export_line
  node bin/fleetctl.js list-units
  node bin/fleetctl.js list-machines --full
  node bin/fleetctl.js stop hello.service; node bin/fleetctl.js destroy hello.service
  node bin/fleet-lab.js --name $name exec $hello_on -- systemctl status hello.service
  node bin/fleet-lab.js --name $name poweroff $hello_on     # hello.service moves to the other role=web machine within the agent TTL (5 s)
Take it down (removes every process, mount, link and file it made):
  node bin/fleet-lab.js --name $name down
MSG
