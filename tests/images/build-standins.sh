#!/usr/bin/env bash
# Build local stand-ins for the upstream base images, which cannot be pulled
# on machines without a registry. Idempotent: an image that exists is kept
# (pass --force to rebuild the Debian root filesystem as well).
#
#   jhdeploy-standin/debian:bookworm          Debian root fs trusting the host's CAs
#   jhdeploy-standin/jupyterhub:<version>     contract of quay.io/jupyterhub/jupyterhub (and 5.5.4)
#   jhdeploy-standin/minimal-notebook:latest  contract of quay.io/jupyter/minimal-notebook
#   jhdeploy-standin/postgres:15              contract of the official postgres image
#   jhdeploy-standin/caddy:2                  contract of the official caddy image
#   jhdeploy-standin/configurable-http-proxy:5.3.0  contract of quay.io/jupyterhub/configurable-http-proxy
#   jhdeploy-standin/pebble:latest            the ACME test server, for the Let's Encrypt tests
set -o errexit -o pipefail -o nounset

here=$(cd "$(dirname "$0")" && pwd)
force=no
[ "${1:-}" = "--force" ] && force=yes
jupyterhub_version=${JUPYTERHUB_VERSION:-6.1.1}
jupyterlab_version=${JUPYTERLAB_VERSION:-4.6.6}
older_jupyterhub=5.5.4
rootfs_image=jhdeploy-standin/debian:bookworm

log() { printf '[standins] %s\n' "$*"; }

if [ "$force" = yes ] || ! docker image inspect "$rootfs_image" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }
  dir=$(mktemp -d /tmp/jhdeploy-rootfs.XXXXXX)
  trap 'rm -rf "$dir"' EXIT
  log "debootstrap bookworm into $dir (2-3 min)"
  start=$SECONDS
  debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates,curl \
    bookworm "$dir" http://deb.debian.org/debian >"$dir.log" 2>&1 \
    || { tail -20 "$dir.log" >&2; exit 1; }
  # Trust the same extra CAs as the host (a TLS-inspecting proxy re-signs traffic here).
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
    chroot "$dir" update-ca-certificates >/dev/null
  fi
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -c . | docker import - "$rootfs_image" >/dev/null
  rm -rf "$dir" "$dir.log"
  trap - EXIT
  log "imported $rootfs_image in $((SECONDS - start)) s"
else
  log "$rootfs_image exists"
fi

build() {
  local tag=$1 context=$2; shift 2
  local start=$SECONDS
  log "building $tag"
  docker build --quiet -t "$tag" --build-arg "ROOTFS=$rootfs_image" "$@" "$context" >/dev/null
  log "built $tag in $((SECONDS - start)) s"
}

build "jhdeploy-standin/jupyterhub:$jupyterhub_version" "$here/jupyterhub" \
  --build-arg "JUPYTERHUB_VERSION=$jupyterhub_version"
# An older hub, whose database `invoke upgrade-db` must bring to the pinned version's schema.
build "jhdeploy-standin/jupyterhub:$older_jupyterhub" "$here/jupyterhub" \
  --build-arg "JUPYTERHUB_VERSION=$older_jupyterhub"
build jhdeploy-standin/minimal-notebook:latest "$here/minimal-notebook" \
  --build-arg "JUPYTERHUB_VERSION=$jupyterhub_version" \
  --build-arg "JUPYTERLAB_VERSION=$jupyterlab_version"
build jhdeploy-standin/postgres:15 "$here/postgres"
build jhdeploy-standin/caddy:2 "$here/caddy"
build jhdeploy-standin/configurable-http-proxy:5.3.0 "$here/configurable-http-proxy"
build jhdeploy-standin/pebble:latest "$here/pebble"
