#!/bin/bash
# quadlet-host.sh start|stop|env|check DIR -- miniature Flight Control "Quadlets host" for integration tests.
#
#  * real systemd 252 = PID 1 of private pid/mount/uts/cgroup namespaces (HOST network namespace), own system bus:
#      DBUS_SYSTEM_BUS_ADDRESS=unix:path=DIR/run/dbus/system_bus_socket
#  * its only generator is podman-system-generator -> quadlet 5.4.x, taken from Debian trixie's podman .deb
#    (downloaded + extracted once into $QH_CACHE). daemon-reload (Manager.Reload) re-runs it.
#  * podman 4.3 (bookworm) runs the generated units (/usr/bin/podman = small shim, see podman-shim below);
#    API = Debian's own podman.socket/podman.service inside the namespace -> DIR/run/podman/podman.sock
#  * production paths inside the namespace (bind mounts; the host sees them under DIR):
#      /usr/share/containers/systemd = DIR/quadlets   flightctl.network, flightctl-{db,kv}.volume, flightctl-*.container
#      /etc/containers/systemd       = DIR/etc-containers-systemd      (admin quadlets, drop-ins)
#      /run/containers/systemd       = DIR/run/containers/systemd      (runtime quadlets, drop-ins)
#      /etc/systemd/system           = DIR/etc-systemd-system
#      /usr/lib/systemd/system       = DIR/lib-systemd-system  (stubs, dbus, podman.socket/.service, flightctl.target)
#      /etc/containers, /usr/share/containers, /var/lib/containers = DIR/etc-containers, DIR/usr-share-containers,
#                                      DIR/var-lib-containers (graphroot /var/lib/containers/storage)
#    QH_PATHS=host (at start): quadlet reads DIR/run/containers/systemd:DIR/etc-containers-systemd:DIR/quadlets via
#    QUADLET_UNIT_DIRS instead, so SourcePath is a path that is valid on the host too.
#  * DIR/env: shell variables for tests (bus, API socket, secret files, path map, network, host PID of systemd).
# Needs (Debian bookworm): apt-get install --no-install-recommends podman runc redis-server busybox-static netavark
# aardvark-dns iptables (netavark does NOT pull iptables; plain 'apt-get install podman ...' with Recommends also works;
# without netavark podman 4.3 uses CNI, also supported), plus base: postgresql-15, systemd, dbus, util-linux,
# bsdutils (script), iproute2, curl; jq, psql, python3 only for 'check'. Extra download: trixie's podman .deb (25 MB).
# DIR: absolute path without blanks, outside /run, /etc, /usr, /var/lib/containers (e.g. a mkdtemp dir under /tmp).
# Env: QH_PATHS=prod|host, QH_CACHE, QH_QUADLET (use this quadlet binary), QH_NETWORK_BACKEND=netavark|cni,
#      QH_<SECRET_NAME> (e.g. QH_FLIGHTCTL_KV_PASSWORD) to fix a secret value, QH_KEEP=1 (stop keeps DIR for logs),
#      QH_DB_VOLUME_BLOCKS=16384 (flightctl-db's volume is a tmpfs of that many 4 KiB pages: a database volume that can run full),
#      QH_DB_VOLUME_MB=128 (flightctl-db's volume is an ext4 file system of that size on DIR/db-volume.img, mounted by loop
#      inside the sandbox: it can run full and, unlike the tmpfs, keeps the database when the container stops or crashes).
# If start fails, the sandbox is left for inspection (DIR/console.log = systemd + unit output): always call stop.
# Network: all containers sit on the sandbox's own bridge network "flightctl" (a free 10.89.x.0/24 in the host netns).
# Nothing is published unless a drop-in adds PublishPort=127.0.0.1:... . Images are local (localhost/...); the
# registries.conf of the sandbox has no search registries, so nothing ever contacts a registry.
set -euo pipefail
cmd=${1:-}; [ $# -ge 2 ] || { echo "usage: $0 start|stop|env|check DIR" >&2; exit 2; }
D=$(realpath -m "$2")
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
CACHE=${QH_CACHE:-/var/tmp/quadlet-host-cache}
LOCK=${QH_LOCK:-/tmp/quadlet-host.lock}
BUS="unix:path=$D/run/dbus/system_bus_socket"
APPS="flightctl-api flightctl-worker flightctl-periodic flightctl-alert-exporter flightctl-alertmanager-proxy"
UNITS="flightctl-network flightctl-db flightctl-kv $APPS"
GLOBAL_CHAINS="NETAVARK_FORWARD|NETAVARK-HOSTPORT-DNAT|NETAVARK-HOSTPORT-MASQ|NETAVARK-HOSTPORT-SETMARK|CNI-FORWARD|CNI-ADMIN|CNI-HOSTPORT-DNAT|CNI-HOSTPORT-MASQ|CNI-HOSTPORT-SETMARK"
SECRETS="flightctl-postgresql-password flightctl-postgresql-master-password flightctl-postgresql-user-password flightctl-kv-password"

log() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk "BEGIN{printf \"%.2f\", $(now)-$1}"; }
M="org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager"
upath() { busctl --address="$BUS" call $M LoadUnit s "$1" | awk '{print $2}' | tr -d '"'; }
bget() { # bget UNIT PROPERTY [IFACE]: LoadUnit (not GetUnit) so that it also works for stopped/unloaded units
  busctl --address="$BUS" get-property org.freedesktop.systemd1 "$(upath "$1")" "${3:-org.freedesktop.systemd1.Unit}" "$2" \
    | sed -E 's/^[a-z]+ //; s/^"(.*)"$/\1/'; }
nsrun() { nsenter -t "$(cat "$D/nspid")" -m -p -- "$@"; }

ensure_quadlet() { # -> path of a quadlet (podman >= 5) binary (downloaded once by the project's install step)
  "$ROOT/scripts/install-quadlet.sh"
}

net_cleanup() { # IFACE SUBNET [CHAIN...]: what netavark/CNI leave in the host netns (graceful stop: only an empty
  # NETAVARK-DN-<hash> chain; after a crash: bridge, FORWARD/POSTROUTING rules, per-network chains).
  # netavark names its chains after a hash of the network NAME, so parallel sandboxes share NETAVARK-<hash>:
  # delete only rules that name our subnet, and chains that nothing references any more.
  local -; set +e +o pipefail   # best effort; greps that match nothing are fine
  local ifc=$1 sub=$2; shift 2; local rec="$*" t l c chains
  if [ -n "$ifc" ] && ip link show "$ifc" >/dev/null 2>&1; then ip link del "$ifc" || true; fi
  [ -n "$sub" ] && command -v iptables-save >/dev/null || return 0
  exec 8>>"$LOCK"; flock 8
  for t in nat filter; do
    chains="$rec $(iptables-save -t $t | grep -E '^-A ' | grep -F -- " $sub " | grep -oE -- '-j (NETAVARK|CNI)-[0-9A-Fa-f]{8,}$' | cut -c4-)
            $(iptables-save -t $t | grep -E '^-A CNI-[0-9A-Fa-f]{8,} ' | grep -F -- " $sub " | awk '{print $2}')"
    for c in $chains; do case $c in NETAVARK-DN-*) ;; NETAVARK-*) chains="$chains NETAVARK-DN-${c#NETAVARK-}";; esac; done
    chains=$(printf '%s\n' $chains | sort -u)
    iptables-save -t $t | grep -E '^-A ' | grep -F -- " $sub " | while IFS= read -r l; do
      eval "iptables -t $t -D ${l#-A }" 2>/dev/null || true; done
    for c in $chains; do case $c in CNI-*)   # CNI's chains are per container (ours alone): drop the jumps to them
      iptables-save -t $t | grep -E -- "^-A .* -j $c( |\$)" | while IFS= read -r l; do
        eval "iptables -t $t -D ${l#-A }" 2>/dev/null || true; done;; esac; done
    for c in $chains; do
      iptables-save -t $t | grep -qE -- "-j $c( |\$)" && continue   # still used by another sandbox
      iptables -t $t -F "$c" 2>/dev/null || true; iptables -t $t -X "$c" 2>/dev/null || true
    done
  done
  flock -u 8; exec 8>&-
  return 0
}

global_chain_cleanup() { # PRE-EXISTING-CHAINS: drop the host-wide chains this sandbox created once nothing uses them
  local -; set +e +o pipefail
  local pre=" $* "
  command -v iptables-save >/dev/null || return 0
  rules() { iptables-save -t "$1" | grep -E -- "^-A $2 "; }
  fresh() { case "$pre" in *" $2 "*) return 1;; esac; iptables-save -t "$1" | grep -qE "^:$2 "; }
  drop() { local t=$1 c l own; shift; own=$(echo "$*" | tr ' ' '|')
    for c; do iptables-save -t "$t" | grep -E -- "-j $c( |\$)" | grep -vE -- "^-A ($own) " | while IFS= read -r l; do
      eval "iptables -t $t -D ${l#-A }"; done; done
    for c; do iptables -t "$t" -F "$c"; done; for c; do iptables -t "$t" -X "$c"; done; }
  exec 8>>"$LOCK"; flock 8
  if fresh nat NETAVARK-HOSTPORT-DNAT && [ -z "$(rules nat NETAVARK-HOSTPORT-DNAT)" ] && ! iptables-save -t nat | grep -q '^:NETAVARK-DN-'; then
    drop nat NETAVARK-HOSTPORT-DNAT NETAVARK-HOSTPORT-SETMARK NETAVARK-HOSTPORT-MASQ; fi
  if fresh filter NETAVARK_FORWARD && [ -z "$(rules filter NETAVARK_FORWARD)" ]; then drop filter NETAVARK_FORWARD; fi
  if fresh nat CNI-HOSTPORT-DNAT && [ -z "$(rules nat CNI-HOSTPORT-DNAT)" ] && ! iptables-save -t nat | grep -q '^:CNI-DN-'; then
    drop nat CNI-HOSTPORT-DNAT CNI-HOSTPORT-SETMARK CNI-HOSTPORT-MASQ; fi
  if fresh filter CNI-FORWARD && [ -z "$(rules filter CNI-FORWARD | grep -v -- '-j CNI-ADMIN')" ] && [ -z "$(rules filter CNI-ADMIN)" ]; then
    drop filter CNI-FORWARD CNI-ADMIN; fi
  flock -u 8; exec 8>&-
  return 0
}

write_files() {
  local Q=$1 H NB; H=$(ulimit -Hn)
  NB=${QH_NETWORK_BACKEND:-}; [ -n "$NB" ] || { [ -x /usr/lib/podman/netavark ] || [ -x /usr/libexec/podman/netavark ] && NB=netavark || NB=cni; }
  echo "$NB" > "$D/network-backend"
  mkdir -p "$D"/{run/containers/systemd,etc-systemd-system,lib-systemd-system,system-generators,etc-containers/networks} \
           "$D"/{etc-containers/cni-net.d,etc-containers/systemd,etc-containers-systemd,usr-share-containers,quadlets} \
           "$D"/{var-lib-containers,var-lib-cni,share/flightctl-db,secrets,images}
  chmod 700 "$D/secrets"
  # ---- unit dir bound over /usr/lib/systemd/system (= /lib/systemd/system): no host unit is visible ----
  local U=$D/lib-systemd-system t u
  for t in sysinit basic sockets shutdown multi-user timers paths slices local-fs remote-fs network network-online \
           network-pre nss-lookup; do printf '[Unit]\nDescription=%s (stub)\n' "$t" > "$U/$t.target"; done
  cp /lib/systemd/system/dbus.socket /lib/systemd/system/dbus.service \
     /lib/systemd/system/podman.socket /lib/systemd/system/podman.service "$U/"
  printf '[Unit]\nDescription=quadlet-host boot target\nWants=dbus.socket dbus.service podman.socket qh-setup.service\n' > "$U/qh.target"
  # A boot after a reboot: what multi-user.target pulls in on a real host, not the installer part.
  printf '[Unit]\nDescription=quadlet-host boot target after a reboot\nWants=dbus.socket dbus.service podman.socket flightctl.target\n' > "$U/qh-boot.target"
  { printf '[Unit]\nDescription=Flight Control Services Group\n'   # as flightctl's flightctl.target, reduced
    for u in $UNITS; do printf 'Wants=%s.service\n' "$u"; done; printf 'After=network.target\n'
    for u in $UNITS; do printf 'After=%s.service\n' "$u"; done; printf '\n[Install]\nWantedBy=multi-user.target\n'
  } > "$U/flightctl.target"
  { printf '[Unit]\nDescription=quadlet-host: local images and podman secrets (the installer part)\n'
    printf '[Service]\nType=oneshot\nRemainAfterExit=yes\n'
    printf 'ExecStart=/usr/bin/podman import --change "CMD [\\"/bin/sh\\"]" %s localhost/busybox:latest\n' "$D/images/busybox.tar"
    printf 'ExecStart=/usr/bin/podman import %s localhost/hostusr:latest\n' "$D/images/hostusr.tar"
    for u in $SECRETS; do printf 'ExecStart=/usr/bin/podman secret create %s %s\n' "$u" "$D/secrets/$u"; done
  } > "$U/qh-setup.service"
  printf '[Manager]\nDefaultStandardOutput=tty\nDefaultStandardError=tty\n' > "$D/system.conf"
  { printf '#!/bin/bash\n# quadlet %s (Debian trixie). systemd gives generators /dev/null as stdout/stderr, production quadlet\n' "$("$Q" -version)"
    printf '# logs to /dev/kmsg (journal); here its messages go to /dev/console = DIR/console.log instead.\n'
    if [ "${QH_PATHS:-prod}" = host ]; then
      printf 'export QUADLET_UNIT_DIRS=%s\n' "$D/run/containers/systemd:$D/etc-containers-systemd:$D/quadlets"; fi
    printf 'exec 2>>/dev/console\nexec -a "$0" %q -no-kmsg-log %s "$@"\n' "$Q" "${QH_QUADLET_VERBOSE:+-v}"
  } > "$D/system-generators/podman-system-generator"
  chmod 755 "$D/system-generators/podman-system-generator"
  # ---- /usr/bin/podman inside the namespace (the real binary is bind-mounted at DIR/podman.real) ----
  : > "$D/podman.real"
  cat > "$D/podman-shim" <<EOF
#!/bin/sh
# /usr/bin/podman in the sandbox = podman 4.3 plus the podman >= 4.4/5.x behaviours that quadlet 5.x output relies on:
#  1. 'network|volume create --ignore NAME': no --ignore in 4.3 -> drop it, succeed if NAME already exists.
#  2. 'run --replace --cidfile=F': since 4.4 (containers/podman#16394) --replace first deletes a stale F; 4.3 fails
#     with "container id file exists" on every start after the first.
#  3. 'rm --cidfile=F': newer podman deletes F and, with -i, succeeds if F is missing; 4.3 keeps F / errors.
#  4. '--add-host NAME:host-gateway' (flightctl's AddHost=%H:host-gateway): 4.3 rejects it ("invalid IP address");
#     replaced by the gateway IP of the container's network (its bridge address on the host, as in podman 5).
R=$D/podman.real
case "\$1 \$2" in
"network create"|"volume create")
  obj=\$1 ign=0 last=
  for a do shift; if [ "\$a" = --ignore ]; then ign=1; else set -- "\$@" "\$a"; last=\$a; fi; done
  [ \$ign = 1 ] && "\$R" "\$obj" exists "\$last" 2>/dev/null && { echo "\$last"; exit 0; } ;;
"run "*|"create "*)
  rep=0 cid= prev= net=podman
  for a do case \$a in --replace|--replace=true) rep=1;; --cidfile=*) cid=\${a#--cidfile=};; --network=*|--net=*) net=\${a#*=};; esac
    case \$prev in --cidfile) cid=\$a;; --network|--net) net=\$a;; esac; prev=\$a; done
  [ \$rep = 1 ] && [ -n "\$cid" ] && rm -f "\$cid"
  case " \$* " in *:host-gateway\ *)
    gw=\$("\$R" network inspect -f '{{range .Subnets}}{{.Gateway}}{{end}}' "\${net%%:*}" 2>/dev/null | head -1)
    if [ -n "\$gw" ]; then for a do shift; case \$a in *:host-gateway) a=\${a%:host-gateway}:\$gw;; esac; set -- "\$@" "\$a"; done; fi ;;
  esac ;;
"rm "*)
  ign=0 cid= prev=
  for a do case \$a in -i|--ignore|--ignore=true) ign=1;; --cidfile=*) cid=\${a#--cidfile=};; esac
    [ "\$prev" = --cidfile ] && cid=\$a; prev=\$a; done
  if [ -n "\$cid" ]; then
    [ -e "\$cid" ] || { [ \$ign = 1 ] && exit 0; }
    "\$R" "\$@"; rc=\$?; [ \$rc = 0 ] && rm -f "\$cid"; exit \$rc
  fi ;;
esac
exec "\$R" "\$@"
EOF
  chmod 755 "$D/podman-shim"
  # ---- containers configuration (DIR/etc-containers is the namespace's /etc/containers) ----
  cp -a /usr/share/containers/. "$D/usr-share-containers/"; mkdir -p "$D/usr-share-containers/systemd"
  cp /etc/containers/policy.json "$D/etc-containers/"
  cat > "$D/etc-containers/containers.conf" <<EOF
# quadlet-host: podman 4.3 on this host kind (no CAP_SYS_RESOURCE -> hard nofile limit $H; hybrid cgroups -> runc;
# no journald -> k8s-file/file; cgroup2 without controllers in the namespace -> pids_limit = 0)
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=$H:$H", "nproc=32768:32768"]
pids_limit = 0
[network]
network_backend = "$NB"
network_config_dir = "$( [ "$NB" = cni ] && echo /etc/containers/cni-net.d || echo /etc/containers/networks )"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
EOF
  printf '[storage]\ndriver = "overlay"\ngraphroot = "/var/lib/containers/storage"\nrunroot = "/run/containers/storage"\n' \
    > "$D/etc-containers/storage.conf"
  printf 'unqualified-search-registries = []\nshort-name-mode = "enforcing"\n' > "$D/etc-containers/registries.conf"
  # ---- images: busybox-static tree; empty tree for Volume=/usr:/usr:ro (host's postgres 15 and redis) ----
  local B=$D/images/bb HU=$D/images/hostusr a
  mkdir -p "$B"/{bin,etc,tmp}; cp /bin/busybox "$B/bin/"; chmod 1777 "$B/tmp"
  for a in sh ls cat echo sleep env id hostname ip ps printf true false kill wget nc; do ln -sf busybox "$B/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$B/etc/passwd"; echo 'root:x:0:' > "$B/etc/group"
  tar -C "$B" -cf "$D/images/busybox.tar" .
  mkdir -p "$HU"/{etc,tmp,run,var/run/postgresql,var/lib/pgsql/data,root,usr,opt}; chmod 1777 "$HU/tmp"
  for a in bin sbin lib lib64; do ln -s usr/$a "$HU/$a"; done
  grep -E '^(root|postgres|redis|nobody):' /etc/passwd > "$HU/etc/passwd"
  grep -E '^(root|postgres|redis|nogroup):' /etc/group > "$HU/etc/group"
  chown postgres:postgres "$HU/var/run/postgresql" "$HU/var/lib/pgsql/data"
  tar -C "$HU" -cf "$D/images/hostusr.tar" .
  rm -rf "$B" "$HU"
  # ---- secret values: random, or QH_<NAME> (e.g. QH_FLIGHTCTL_KV_PASSWORD=...) ----
  local s var; for s in $SECRETS; do var=QH_$(echo "$s" | tr 'a-z-' 'A-Z_')
    printf '%s' "${!var:-$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')}" > "$D/secrets/$s"; done
  # ---- quadlets, named and shaped like flightctl's deploy/podman (images swapped for local ones) ----
  local QD=$D/quadlets
  printf '[Network]\nNetworkName=flightctl\nDriver=bridge\nIPAMDriver=host-local\n' > "$QD/flightctl.network"
  printf '[Volume]\nVolumeName=flightctl-db\n' > "$QD/flightctl-db.volume"
  # (the container then names flightctl-db.volume, so quadlet creates the volume, with these options, before it)
  [ -z "${QH_DB_VOLUME_BLOCKS:-}" ] || printf 'Type=tmpfs\nDevice=tmpfs\nOptions=nr_blocks=%s\n' "$QH_DB_VOLUME_BLOCKS" >> "$QD/flightctl-db.volume"
  if [ -n "${QH_DB_VOLUME_MB:-}" ]; then
    # Mounted by init.sh at each boot, inside the sandbox's mount namespace; the volume binds it.
    truncate -s "${QH_DB_VOLUME_MB}M" "$D/db-volume.img"; mkfs.ext4 -q -F -m 0 "$D/db-volume.img"; mkdir -p "$D/db-volume"
    printf 'Type=none\nDevice=%s\nOptions=bind\n' "$D/db-volume" >> "$QD/flightctl-db.volume"
  fi
  printf '[Volume]\nVolumeName=flightctl-kv\n' > "$QD/flightctl-kv.volume"
  cat > "$D/share/flightctl-db/run-postgresql.sh" <<'EOF'
#!/bin/sh
# PostgreSQL 15 from the host's /usr (bind-mounted read-only). Like the sclorg image: initdb on first start,
# (re)apply users/passwords from the env (podman secrets) on every start, then exec postgres.
set -eu
B=/usr/lib/postgresql/15/bin; PGDATA=/var/lib/pgsql/data/userdata; export PGDATA
# After a reboot with QH_DB_START_DELAY: the container runs that long before PostgreSQL starts,
# as a real database image initialises for seconds after its unit is active.
if [ -s /opt/flightctl-db/start-delay ]; then sleep "$(cat /opt/flightctl-db/start-delay)"; fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  $B/initdb -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >/tmp/initdb.log
  echo 'host all all all scram-sha-256' >> "$PGDATA/pg_hba.conf"
fi
$B/pg_ctl -D "$PGDATA" -o "-c listen_addresses= -k /tmp" -w -s start >/tmp/pg-setup.log
# The values come in through psql's \getenv, never through its argv.
psql -h /tmp -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 -v db="$POSTGRESQL_DATABASE" -v user="$POSTGRESQL_USER" \
  -v mu="$POSTGRESQL_MASTER_USER" <<'SQL'
\getenv pw POSTGRESQL_PASSWORD
\getenv mpw POSTGRESQL_MASTER_PASSWORD
\getenv spw PGPASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'user') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('CREATE ROLE %I LOGIN SUPERUSER', :'mu') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'mu') \gexec
ALTER ROLE :"user" PASSWORD :'pw';
ALTER ROLE :"mu" PASSWORD :'mpw';
ALTER ROLE postgres PASSWORD :'spw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
$B/pg_ctl -D "$PGDATA" -m fast -w -s stop
exec $B/postgres -D "$PGDATA" -c listen_addresses='*' -c port=5432 -k /var/run/postgresql \
  -c fsync=off -c synchronous_commit=on -c full_page_writes=off -c max_connections=200
EOF
  chmod 755 "$D/share/flightctl-db/run-postgresql.sh"
  cat > "$QD/flightctl-db.container" <<EOF
[Unit]
Description=Flight Control Database service
PartOf=flightctl.target

[Container]
ContainerName=flightctl-db
Environment=POSTGRESQL_DATABASE=flightctl POSTGRESQL_USER=flightctl_app POSTGRESQL_MASTER_USER=admin
Environment=POSTGRESQL_MAX_CONNECTIONS=200
Image=localhost/hostusr:latest
Network=flightctl.network
User=postgres
Volume=/usr:/usr:ro
Volume=flightctl-db${QH_DB_VOLUME_BLOCKS:+.volume}${QH_DB_VOLUME_MB:+.volume}:/var/lib/pgsql/data:Z
Secret=flightctl-postgresql-password,type=env,target=PGPASSWORD
Secret=flightctl-postgresql-master-password,type=env,target=POSTGRESQL_MASTER_PASSWORD
Secret=flightctl-postgresql-user-password,type=env,target=POSTGRESQL_PASSWORD
Volume=$D/share/flightctl-db:/opt/flightctl-db:ro
Exec=/bin/sh /opt/flightctl-db/run-postgresql.sh

[Service]
Restart=always
RestartSec=30

[Install]
WantedBy=flightctl.target
EOF
  cat > "$QD/flightctl-kv.container" <<'EOF'
[Unit]
Description=Flight Control Key Value service
PartOf=flightctl.target

[Container]
ContainerName=flightctl-kv
Image=localhost/hostusr:latest
Network=flightctl.network
User=redis
Volume=/usr:/usr:ro
# requirepass through a private config file written by printf (a shell builtin): the value never
# enters an argv, and redis-server replaces the shell as PID 1 so it gets the stop signal itself
Exec=/bin/sh -c 'umask 077; printf "requirepass %%s\\n" "$${KV_PASSWORD}" > /tmp/kv.conf; exec redis-server /tmp/kv.conf --port 6379 --save "" --appendonly no --dir /tmp'
Secret=flightctl-kv-password,type=env,target=KV_PASSWORD

[Service]
Type=notify
Restart=always
RestartSec=30

[Install]
WantedBy=flightctl.target
EOF
  for a in $APPS; do cat > "$QD/$a.container" <<EOF
[Unit]
Description=Flight Control ${a#flightctl-} service (stand-in: sleep in busybox)
PartOf=flightctl.target
After=flightctl-db.service flightctl-kv.service
Wants=flightctl-db.service flightctl-kv.service

[Container]
ContainerName=$a
Image=localhost/busybox:latest
Network=flightctl.network
Environment=HOME=/root
Environment=DB_USER=flightctl_app
Secret=flightctl-postgresql-user-password,type=env,target=DB_PASSWORD
Secret=flightctl-kv-password,type=env,target=KV_PASSWORD
Exec=/bin/sh -c "trap 'exit 0' TERM INT; sleep 2147483647 & wait"

[Service]
Restart=always
RestartSec=30

[Install]
WantedBy=flightctl.target
EOF
  done
}

preflight() { # say clearly why this machine cannot host the sandbox, instead of failing half-way
  local why=()
  [ "$(id -u)" = 0 ] || why+=("must run as root (it mounts, unshares namespaces and runs a system manager)")
  command -v podman >/dev/null || why+=("podman is not installed (scripts/install-deps.sh)")
  command -v runc >/dev/null || why+=("runc is not installed (scripts/install-deps.sh)")
  [ -x /lib/systemd/systemd ] || why+=("systemd is not installed")
  command -v dbus-daemon >/dev/null || why+=("dbus-daemon is not installed")
  if [ "$(id -u)" = 0 ] && ! unshare --fork --pid --mount --uts --cgroup --mount-proc true 2>/dev/null; then
    why+=("cannot create pid/mount/uts/cgroup namespaces here (container without CAP_SYS_ADMIN, or namespaces disabled)"); fi
  if ((${#why[@]})); then
    log "quadlet-host: this machine cannot host the sandbox Quadlets host:"; printf '  - %s\n' "${why[@]}" >&2; exit 3; fi
}

start() {
  [ ! -e "$D/cgroup" ] || { log "$D is in use (stop it first)"; exit 1; }
  preflight
  local t0 t1 Q
  t0=$(now)
  command -v iptables >/dev/null || { log "podman's network backends (netavark, CNI) need iptables: apt-get install iptables"; exit 1; }
  exec 9>>"$LOCK"; flock 9     # serialise: quadlet download, and subnet/bridge choice of parallel sandboxes
  Q=$(ensure_quadlet)
  mkdir -p "$D"; write_files "$Q"
  # mount points that must exist on the host (podman would create /var/lib/containers itself on first use)
  [ -d /var/lib/containers ] || mkdir -m 0700 /var/lib/containers
  [ -d /var/lib/cni ] || mkdir -m 0755 /var/lib/cni
  echo "${QH_PATHS:-prod}" > "$D/paths-mode"
  # host-wide chains netavark/CNI create on first use; stop removes those this sandbox created once they are unused
  { iptables-save 2>/dev/null | grep -oE "^:($GLOBAL_CHAINS) " || true; } | tr -d ': ' | tr '\n' ' ' > "$D/pre-chains"
  cat > "$D/init.sh" <<'EOS'
#!/bin/bash
set -e
D=$1
mount --make-rprivate /
mount --bind "$D/run" /run
mount --bind "$D/etc-systemd-system" /etc/systemd/system
mount --bind "$D/lib-systemd-system" /usr/lib/systemd/system
mount --bind "$D/system-generators" /usr/lib/systemd/system-generators
mount --bind "$D/etc-containers" /etc/containers
mount --bind "$D/etc-containers-systemd" /etc/containers/systemd
mount --bind "$D/usr-share-containers" /usr/share/containers
mount --bind "$D/quadlets" /usr/share/containers/systemd
mount --bind "$D/var-lib-containers" /var/lib/containers
mount --bind "$D/var-lib-cni" /var/lib/cni
mount --bind /usr/bin/podman "$D/podman.real"
mount --bind "$D/podman-shim" /usr/bin/podman
umount -R /sys/fs/cgroup 2>/dev/null || umount -l /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount --bind "$(tty)" /dev/console
mount --bind "$D/system.conf" /etc/systemd/system.conf
if [ -e "$D/db-volume.img" ]; then mount -o loop "$D/db-volume.img" "$D/db-volume"; chmod 0777 "$D/db-volume"; fi
exec env -i container=unshare PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  /lib/systemd/systemd --unit="${2:-qh.target}" --log-target=console --log-level=info --show-status=0
EOS
  chmod +x "$D/init.sh"
  launch qh.target
  t1=$(now)
  busctl --address="$BUS" call $M StartUnit ss flightctl.target replace >/dev/null
  wait_units $UNITS
  # netavark's per-network nat chain (shared by every network named flightctl), for net_cleanup at stop
  echo "QH_NET_CHAINS='$(iptables-save -t nat 2>/dev/null | grep -F -- "-A POSTROUTING -s $(sed -n 's/^QH_NET_SUBNET=//p' "$D/net") -j " \
        | awk '{print $NF}' | sort -u | tr '\n' ' ')'" >> "$D/net"
  flock -u 9; exec 9>&-        # bridge + subnet exist now: the next sandbox will avoid them
  stores_and_env "$Q"
  log "quadlet-host: up in $(since "$t0") s (systemd+images+secrets $(awk "BEGIN{printf \"%.2f\", $t1-$t0}") s; flightctl.target, db and kv ready $(since "$t1") s)"
}

launch() { # TARGET: systemd as PID 1 of fresh namespaces in a fresh cgroup, until it runs
  local CGR CG st i
  CGR=/sys/fs/cgroup/unified; [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] && CGR=/sys/fs/cgroup
  CG=$CGR/qh-$(basename "$D")-$$; mkdir "$CG"; echo "$CG" > "$D/cgroup"
  ( echo $BASHPID > "$CG/cgroup.procs"
    exec script -qfeac "unshare --fork --pid --mount --uts --cgroup --mount-proc --propagation private $D/init.sh $D $1" "$D/console.log"
  ) </dev/null >/dev/null 2>&1 9>&- &
  st=
  for i in $(seq 1 400); do
    st=$(busctl --address="$BUS" get-property $M SystemState 2>/dev/null || true)
    case $st in *running*|*degraded*) break;; esac; sleep 0.05; done
  case $st in *running*|*degraded*) ;; *) log "systemd: '$st' (qh-setup failed?); see $D/console.log"; exit 1;; esac
  head -1 "$CG/init.scope/cgroup.procs" > "$D/nspid"
}

wait_units() { # UNIT...: each active, or fail with what the console says
  local u i s
  for u in "$@"; do
    for i in $(seq 1 600); do
      s=$(bget "$u.service" ActiveState); [ "$s" = active ] && break
      case $s/$(bget "$u.service" SubState) in failed/*|*/auto-restart)
        log "$u.service failed; see $D/console.log:"; tr -d '\r' < "$D/console.log" | grep -E '^Error' | tail -3 >&2; exit 1;; esac
      sleep 0.05; done
    [ "$s" = active ] || { log "$u.service: $s after 30 s; see $D/console.log"; exit 1; }
    if [ "$u" = flightctl-network ]; then   # bridge name + subnet, for the clean-up at stop
      { echo "QH_NET_IFACE=$(nsrun podman network inspect -f '{{.NetworkInterface}}' flightctl)"
        echo "QH_NET_SUBNET=$(nsrun podman network inspect -f '{{range .Subnets}}{{.Subnet}}{{end}}' flightctl)"
      } > "$D/net"; fi
  done
}

stores_and_env() { # QUADLET: wait for PostgreSQL and Redis to answer, then write DIR/env
  local Q=$1 DBIP KVIP i
  ipof() { nsrun podman inspect -f '{{(index .NetworkSettings.Networks "flightctl").IPAddress}}' "$1"; }
  DBIP=$(ipof flightctl-db); KVIP=$(ipof flightctl-kv)
  # After a reboot with a delayed database, whoever rebooted waits (or tests that it is not there yet).
  if [ -z "${QH_NO_WAIT:-}" ]; then
    for i in $(seq 1 200); do pg_isready -q -h "$DBIP" -p 5432 && break; sleep 0.05; done
    pg_isready -q -h "$DBIP" -p 5432 || { log "postgres not ready; see $D/console.log"; exit 1; }
  fi
  for i in $(seq 1 200); do redis-cli -h "$KVIP" -p 6379 ping 2>&1 | grep -q -e NOAUTH -e PONG && break; sleep 0.05; done
  {
    echo "DBUS_SYSTEM_BUS_ADDRESS='$BUS'"
    echo "QH_PODMAN_SOCK='$D/run/podman/podman.sock'"
    echo "# host PID of the namespace's systemd: nsenter -t \$QH_NSPID -m -p -- systemctl|podman ..."
    echo "QH_NSPID=$(cat "$D/nspid")"
    echo "QH_PATHS=$(cat "$D/paths-mode")"
    echo "QH_PATH_MAP='/usr/share/containers/systemd=$D/quadlets /etc/containers/systemd=$D/etc-containers-systemd /etc/systemd/system=$D/etc-systemd-system /var/lib/containers=$D/var-lib-containers /run=$D/run'"
    cat "$D/net"
    echo "QH_NETWORK_BACKEND=$(cat "$D/network-backend")"
    echo "# container IPs at start; they change on every container restart (inspect via the API)"
    echo "QH_DB_IP=$DBIP"
    echo "QH_KV_IP=$KVIP"
    for s in $SECRETS; do echo "QH_SECRET_$(echo "${s#flightctl-}" | tr 'a-z-' 'A-Z_')='$D/secrets/$s'"; done
    echo "QH_QUADLET_VERSION=$("$Q" -version)"
  } > "$D/env"
}

reboot() { # a power loss and a boot on the same disk (see the header)
  [ -f "$D/cgroup" ] || { log "quadlet-host: nothing to reboot in $D"; exit 1; }
  local t0 CG IFACE SUBNET CHAINS Q; t0=$(now); CG=$(cat "$D/cgroup")
  IFACE=$(sed -n 's/^QH_NET_IFACE=//p' "$D/net"); SUBNET=$(sed -n 's/^QH_NET_SUBNET=//p' "$D/net")
  CHAINS=$(sed -n "s/^QH_NET_CHAINS='\(.*\)'/\1/p" "$D/net")
  # Every process at once: no stop job, no podman or netavark teardown.
  [ -d "$CG" ] && { echo 1 > "$CG/cgroup.kill"; } 2>/dev/null || true
  while [ -d "$CG" ] && ! grep -q '^populated 0' "$CG/cgroup.events" 2>/dev/null; do sleep 0.02; done
  find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  # What the host kernel keeps but a reboot would not: the bridge, its veths and iptables rules.
  net_cleanup "$IFACE" "$SUBNET" $CHAINS   # (takes the lock itself: flock fds of one file exclude each other)
  exec 9>>"$LOCK"; flock 9   # from here as start: the bridge and subnet choice
  # /run is a tmpfs: runtime quadlets and drop-ins, sockets, podman's runroot are gone.
  find "$D/run" -mindepth 1 -delete 2>/dev/null || rm -rf "${D:?}/run/"*
  mkdir -p "$D/run/containers/systemd"
  if [ -n "${QH_DB_START_DELAY:-}" ]; then echo "$QH_DB_START_DELAY" > "$D/share/flightctl-db/start-delay"; else rm -f "$D/share/flightctl-db/start-delay"; fi
  Q=$(ensure_quadlet)
  launch qh-boot.target
  # The data stores come up by themselves; application units a restore holds stay down.
  wait_units flightctl-network flightctl-db flightctl-kv
  echo "QH_NET_CHAINS='$(iptables-save -t nat 2>/dev/null | grep -F -- "-A POSTROUTING -s $(sed -n 's/^QH_NET_SUBNET=//p' "$D/net") -j " \
        | awk '{print $NF}' | sort -u | tr '\n' ' ')'" >> "$D/net"
  flock -u 9; exec 9>&-
  if [ -z "${QH_DB_START_DELAY:-}" ]; then stores_and_env "$Q"; else QH_NO_WAIT=1 stores_and_env "$Q"; fi
  log "quadlet-host: rebooted in $(since "$t0") s"
}

stop() {
  [ -f "$D/cgroup" ] || { log "quadlet-host: nothing to stop in $D"; return 0; }
  local CG IFACE SUBNET CHAINS; CG=$(cat "$D/cgroup")
  IFACE=$(sed -n 's/^QH_NET_IFACE=//p' "$D/net" 2>/dev/null || true)
  SUBNET=$(sed -n 's/^QH_NET_SUBNET=//p' "$D/net" 2>/dev/null || true)
  CHAINS=$(sed -n "s/^QH_NET_CHAINS='\(.*\)'/\1/p" "$D/net" 2>/dev/null || true)
  if [ -s "$D/nspid" ] && grep -q . "$CG/init.scope/cgroup.procs" 2>/dev/null; then
    # graceful: podman/netavark remove veths, port forwards, iptables rules and the bridge before the namespace dies
    timeout 60 nsenter -t "$(cat "$D/nspid")" -m -p -- /bin/sh -c 'systemctl stop flightctl.target "flightctl*";
      podman rm -a -f -t 0; podman network rm -f flightctl' >/dev/null 2>&1 || true
  fi
  [ -d "$CG" ] && { echo 1 > "$CG/cgroup.kill"; } 2>/dev/null || true       # everything else: systemd, dbus, podman, conmon, aardvark
  while [ -d "$CG" ] && ! grep -q '^populated 0' "$CG/cgroup.events" 2>/dev/null; do sleep 0.02; done
  find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  net_cleanup "$IFACE" "$SUBNET" $CHAINS
  [ -f "$D/pre-chains" ] && global_chain_cleanup $(cat "$D/pre-chains")
  if [ "${QH_KEEP:-0}" = 1 ]; then rm -f "$D/cgroup" "$D/nspid"; else rm -rf "$D"; fi
}

check() { # re-prove the sandbox's properties from the host (busctl, curl, psql, redis-cli, jq)
  . "$D/env"; export DBUS_SYSTEM_BUS_ADDRESS
  local S=$QH_PODMAN_SOCK fails=0 u p r v PGP KVP IP SP HP t
  ok() { printf 'PASS %s\n' "$*"; }; ko() { printf 'FAIL %s\n' "$*"; fails=$((fails+1)); }
  waitst() { local i; for i in $(seq 1 400); do [ "$(bget "$1" ActiveState)" = "$2" ] && return 0; sleep 0.025; done; return 1; }
  hostpath() { local m k; for m in $QH_PATH_MAP; do k=${m%%=*}; case $1 in "$k"|"$k"/*) echo "${m#*=}${1#"$k"}"; return;; esac; done; echo "$1"; }
  freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
  for u in $UNITS; do p=$(bget "$u.service" SourcePath); case $p in */flightctl*.network|*/$u.container) ok "SourcePath $u.service = $p";; *) ko "SourcePath $u.service = '$p'";; esac; done
  # (GeneratorsStartTimestamp is only set at boot; prove the re-run with a new quadlet file instead)
  p=$(hostpath /etc/containers/systemd)/qh-probe.container
  printf '[Container]\nImage=localhost/busybox:latest\nExec=sleep 1000\n' > "$p"; busctl call $M Reload
  r="$(bget qh-probe.service LoadState) $(bget qh-probe.service SourcePath)"; rm -f "$p"; busctl call $M Reload
  v=$(bget qh-probe.service LoadState)
  [ "$r/$v" = "loaded /etc/containers/systemd/qh-probe.container/not-found" ] || [ "$r/$v" = "loaded $p/not-found" ] \
    && ok "Reload re-runs quadlet: new qh-probe.container -> $r; removed -> $v" || ko "Reload: $r / $v"
  for u in $APPS; do
    busctl call $M StopUnit ss "$u.service" replace >/dev/null; waitst "$u.service" inactive && r=inactive || r=$(bget "$u.service" ActiveState)
    busctl call $M StartUnit ss "$u.service" replace >/dev/null; waitst "$u.service" active && v=active || v=$(bget "$u.service" ActiveState)
    [ "$r/$v" = inactive/active ] && ok "StopUnit/StartUnit $u.service: active -> $r -> $v" || ko "Stop/Start $u.service: $r -> $v"; done
  PGP=$(freeport); KVP=$(freeport)
  for u in flightctl-db:$PGP:5432 flightctl-kv:$KVP:6379; do
    IFS=: read -r n hp cp <<<"$u"; SP=$(bget "$n.service" SourcePath); HP=$(hostpath "$SP")
    mkdir -p "$HP.d"; printf '[Container]\nPublishPort=127.0.0.1:%s:%s\n' "$hp" "$cp" > "$HP.d/10-publish-port.conf"; done
  busctl call $M Reload
  for n in flightctl-db flightctl-kv; do busctl call $M RestartUnit ss $n.service replace >/dev/null; done
  waitst flightctl-db.service active || true; waitst flightctl-kv.service active || true
  for t in $(seq 1 100); do pg_isready -q -h 127.0.0.1 -p "$PGP" && break; sleep 0.05; done
  r=$(PGPASSWORD=$(cat "$QH_SECRET_POSTGRESQL_USER_PASSWORD") psql -h 127.0.0.1 -p "$PGP" -U flightctl_app -d flightctl -tAXc 'select current_user' 2>&1 || true)
  [ "$r" = flightctl_app ] && ok "drop-in PublishPort: psql 127.0.0.1:$PGP as flightctl_app" || ko "psql 127.0.0.1:$PGP: $r"
  for t in $(seq 1 100); do redis-cli -p "$KVP" ping 2>&1 | grep -q NOAUTH && break; sleep 0.05; done
  r=$(REDISCLI_AUTH=$(cat "$QH_SECRET_KV_PASSWORD") redis-cli -p "$KVP" ping 2>&1 || true)
  [ "$r" = PONG ] && ok "drop-in PublishPort: redis 127.0.0.1:$KVP PONG with the secret" || ko "redis 127.0.0.1:$KVP: $r"
  rm -rf "$(hostpath "$(bget flightctl-db.service SourcePath)").d" "$(hostpath "$(bget flightctl-kv.service SourcePath)").d"
  busctl call $M Reload
  for n in flightctl-db flightctl-kv; do busctl call $M RestartUnit ss $n.service replace >/dev/null; done
  waitst flightctl-db.service active || true; waitst flightctl-kv.service active || true; sleep 0.3
  if pg_isready -q -t 1 -h 127.0.0.1 -p "$PGP" || redis-cli -p "$KVP" ping >/dev/null 2>&1; then ko "ports still open"; else ok "drop-ins removed: 127.0.0.1:$PGP and :$KVP closed"; fi
  IP=$(curl -s --unix-socket "$S" http://d/v4.0.0/libpod/containers/flightctl-db/json | jq -r .NetworkSettings.Networks.flightctl.IPAddress)
  for t in $(seq 1 100); do pg_isready -q -h "$IP" -p 5432 && break; sleep 0.05; done
  r=$(PGPASSWORD=$(cat "$QH_SECRET_POSTGRESQL_USER_PASSWORD") psql -h "$IP" -U flightctl_app -d flightctl -tAXc 'select 1' 2>&1 || true)
  [ "$r" = 1 ] && ok "container IP $IP:5432 (own bridge) reachable from the host" || ko "psql $IP: $r"
  r=$(curl -s --unix-socket "$S" 'http://d/v4.0.0/libpod/secrets/flightctl-kv-password/json?showsecret=true')
  v=$(jq -r '.SecretData // "absent"' <<<"$r"); p=$(jq -r .Spec.Driver.Options.path <<<"$r"); u=$(jq -r .ID <<<"$r")
  r=$(jq -r --arg id "$u" '.[$id]' "$(hostpath "$p")/secretsdata.json" | base64 -d)
  [ "$r" = "$(cat "$QH_SECRET_KV_PASSWORD")" ] && ok "secret: API SecretData=$v; file driver $(hostpath "$p")/secretsdata.json has the value" || ko "secret file driver"
  return $fails
}

case $cmd in
preflight) preflight ;;
start) start ;;
reboot) reboot ;;
stop) stop ;;
env) cat "$D/env" ;;
check) check ;;
*) echo "usage: $0 start|stop|reboot|env|check DIR" >&2; exit 2 ;;
esac
