#!/usr/bin/env bash
# Start (or check) the real services the tests use: PostgreSQL on 127.0.0.1:5432.
set -euo pipefail

pg_answers() { python3 - <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("127.0.0.1", 5432))
except OSError:
    sys.exit(1)
PY
}

if ! pg_answers; then
  echo "PostgreSQL is not answering on 127.0.0.1:5432; starting it"
  if [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  else
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  fi
  for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
fi
pg_answers || { echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
echo "PostgreSQL answers on 127.0.0.1:5432"

# Debian packages the tests drive for real (Chromium for the Swagger UI page).
missing=()
command -v chromium >/dev/null || missing+=(chromium chromium-driver)
# A local OCI registry and a static busybox to build test images from (tests/support/registry.py).
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' \
  || missing+=(busybox-static)
# nginx for the reverse-proxy gate (tests/gates: its own config on a free port, never the
# system service) and wrk for `make bench`.
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
# Workspaces: Podman with runc and uidmap, the Docker-compatible engine (tests/support/podman.py);
# netavark and iptables give its containers the bridge network (tests/provisioner/
# test_podman_bridge.py only inspects their addresses, it never connects to them).
for package in podman runc uidmap netavark iptables; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
# OpenSSH's client (ssh, ssh-keyscan) against the SSH gateway, in a real terminal (tests/ssh).
command -v ssh >/dev/null || missing+=(openssh-client)
command -v tmux >/dev/null || missing+=(tmux)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  # Installing must not start the packages' system services (nginx would take port 80).
  no_start=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    no_start=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  [ -z "$no_start" ] || rm -f /usr/sbin/policy-rc.d
fi

# Redis on 127.0.0.1:6379: shared rate-limit budgets across workers and instances.
redis_answers() { python3 - <<'PY'
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", 6379), timeout=2) as s:
        s.sendall(b"PING\r\n")
        sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}

if ! redis_answers; then
  echo "Redis is not answering on 127.0.0.1:6379; starting it"
  if ! command -v redis-server >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
  fi
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no
  for _ in $(seq 1 30); do redis_answers && break; sleep 1; done
fi
redis_answers || { echo "Redis did not come up on 127.0.0.1:6379" >&2; exit 1; }
echo "Redis answers on 127.0.0.1:6379"
