#!/usr/bin/env bash
# Build local stand-ins for the upstream base images, which cannot be pulled on
# machines without a registry. Idempotent: the root filesystem is made once (pass
# --force to make it again), and the images come from Docker's build cache when
# nothing changed.
#
#   jhdeploy-standin/debian:trixie            Debian root fs: the public CAs only
#   jhdeploy-standin/jupyterhub:<version>     contract of quay.io/jupyterhub/jupyterhub (and 5.5.4)
#   jhdeploy-standin/minimal-notebook:latest  contract of quay.io/jupyter/minimal-notebook
#   jhdeploy-standin/configurable-http-proxy:5.3.0  contract of quay.io/jupyterhub/configurable-http-proxy
#   jhdeploy-standin/postgres:17              contract of the official postgres image
#   jhdeploy-standin/caddy:2                  contract of the official caddy image
#   jhdeploy-standin/pebble:latest            the ACME test server, for the Let's Encrypt tests
#   jhdeploy-standin/swarm-node:latest        a Docker Engine (and a registry) for the multi-node tests
#   jhdeploy-standin/restic:0.18.0            contract of restic/restic
#   jhdeploy-standin/sftp:latest              an SFTP server, for restic's sftp: repositories
#   jhdeploy-standin/debs:latest              a build stage that unpacks Debian packages' binaries
#   jhdeploy-standin/prometheus-busybox:latest  contract of quay.io/prometheus/busybox, the next four's base
#   jhdeploy-standin/prometheus:v3.5.0        contract of prom/prometheus (Debian unstable's 3.5 LTS build)
#   jhdeploy-standin/node-exporter:v1.9.1     contract of prom/node-exporter (Debian's 1.9.0)
#   jhdeploy-standin/blackbox-exporter:v0.27.0  contract of prom/blackbox-exporter (Debian's 0.26.0)
#   jhdeploy-standin/alertmanager:v0.28.1     contract of prom/alertmanager
#
# Behind a TLS-inspecting proxy, point JHDEPLOY_TEST_CA_DIR at a folder of its CA
# certificates (*.crt): they are trusted while these images are built (pip, npm),
# in a build stage of each image, and are in none of them.
set -o errexit -o pipefail -o nounset

here=$(cd "$(dirname "$0")" && pwd)
force=no
[ "${1:-}" = "--force" ] && force=yes
jupyterhub_version=${JUPYTERHUB_VERSION:-6.1.1}
older_jupyterhub=5.5.4  # the notebook stand-in's too: the body layer must replace it
jupyterlab_version=${JUPYTERLAB_VERSION:-4.6.6}
rootfs_image=jhdeploy-standin/debian:trixie

log() { printf '[standins] %s\n' "$*"; }

if [ "$force" = yes ] || ! docker image inspect "$rootfs_image" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }
  dir=$(mktemp -d /tmp/jhdeploy-rootfs.XXXXXX)
  trap 'rm -rf "$dir"' EXIT
  log "debootstrap trixie into $dir (about 2 min)"
  start=$SECONDS
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,curl \
    trixie "$dir" http://deb.debian.org/debian >"$dir.log" 2>&1 \
    || { tail -20 "$dir.log" >&2; exit 1; }
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -c . | docker import - "$rootfs_image" >/dev/null
  rm -rf "$dir" "$dir.log"
  trap - EXIT
  log "imported $rootfs_image in $((SECONDS - start)) s"
else
  log "$rootfs_image exists"
fi

# Each build gets a copy of its folder plus build-ca/ (the extra CAs, maybe none).
context=$(mktemp -d /tmp/jhdeploy-standin-context.XXXXXX)
trap 'rm -rf "$context"' EXIT
build() {
  local tag=$1 folder=$2; shift 2
  local start=$SECONDS
  log "building $tag"
  rm -rf "$context/build" && cp -r "$folder" "$context/build" && mkdir -p "$context/build/build-ca"
  if [ -n "${JHDEPLOY_TEST_CA_DIR:-}" ] && compgen -G "$JHDEPLOY_TEST_CA_DIR/*.crt" >/dev/null; then
    cp "$JHDEPLOY_TEST_CA_DIR"/*.crt "$context/build/build-ca/"
  fi
  docker build --quiet -t "$tag" --build-arg "ROOTFS=$rootfs_image" "$@" "$context/build" >/dev/null
  log "built $tag in $((SECONDS - start)) s"
}

for version in "$jupyterhub_version" "$older_jupyterhub"; do
  build "jhdeploy-standin/jupyterhub:$version" "$here/jupyterhub" --build-arg "JUPYTERHUB_VERSION=$version"
done
build jhdeploy-standin/minimal-notebook:latest "$here/minimal-notebook" \
  --build-arg "JUPYTERHUB_VERSION=$older_jupyterhub" \
  --build-arg "JUPYTERLAB_VERSION=$jupyterlab_version"
build jhdeploy-standin/configurable-http-proxy:5.3.0 "$here/configurable-http-proxy"
build jhdeploy-standin/postgres:17 "$here/postgres"
build jhdeploy-standin/caddy:2 "$here/caddy"
build jhdeploy-standin/pebble:latest "$here/pebble"
build jhdeploy-standin/swarm-node:latest "$here/swarm-node"
build jhdeploy-standin/restic:0.18.0 "$here/restic"
build jhdeploy-standin/sftp:latest "$here/sftp"
build jhdeploy-standin/debs:latest "$here/debs"
build jhdeploy-standin/prometheus-busybox:latest "$here/prometheus-busybox"
build jhdeploy-standin/prometheus:v3.5.0 "$here/prometheus"
build jhdeploy-standin/node-exporter:v1.9.1 "$here/node-exporter"
build jhdeploy-standin/blackbox-exporter:v0.27.0 "$here/blackbox-exporter"
build jhdeploy-standin/alertmanager:v0.28.1 "$here/alertmanager"
