#!/usr/bin/env bash
# Installs what the project needs and is not there yet: npm dependencies, and the Debian packages
# the tests and the lab run for real (etcd-server, etcd-client for the documented etcdctl examples; iproute2, util-linux,
# systemd and dbus-daemon for fleet-lab's machines).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "ensure-deps: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund
fi

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
command -v findmnt >/dev/null 2>&1 || missing+=(util-linux)
[ -x /usr/lib/systemd/systemd ] || missing+=(systemd)
command -v dbus-daemon >/dev/null 2>&1 || missing+=(dbus-daemon)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-deps: missing ${missing[*]}; run as root (or install them) and try again" >&2
    exit 1
  fi
  echo "ensure-deps: installing ${missing[*]} from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages must not start their services here (etcd-server would take port 2379 on the host):
  # a policy-rc.d that says "no" for the duration of the install.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
  fi
  mapfile -t missing < <(printf "%s\n" "${missing[@]}" | sort -u)
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi
fi
