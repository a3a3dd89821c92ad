#!/usr/bin/env bash
# Prepares a Debian 12 machine (as root) to build and run compose.yaml when
# no image registry is reachable:
#   1. installs docker.io, docker-compose and debootstrap when missing
#      (one apt-get update);
#   2. starts dockerd when it is not running (no systemd needed);
#   3. makes sure the base images compose.yaml names exist locally:
#        debian:bookworm-slim, debian:bookworm  - pulled, or else imported
#            from ONE debootstrap --variant=minbase rootfs, cached as a
#            tarball under /var/cache/proxyfleet/ so reruns take seconds;
#        redis:7-bookworm - pulled, or else a stand-in built FROM
#            debian:bookworm-slim with Debian's redis-server.
# compose.yaml itself stays the standard one (official images by name);
# compose does not pull an image that already exists locally.
#
# Usage: scripts/docker-bootstrap.sh [--no-pull] [--refresh-rootfs]
#   --no-pull         do not try the registry at all (also PF_DOCKER_NO_PULL=1)
#   --refresh-rootfs  rebuild the cached rootfs tarball
# Env: PF_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#      PF_CACHE_DIR (default /var/cache/proxyfleet),
#      PF_PULL_TIMEOUT_S (default 20).
# Exit status: 0 when docker runs and all images exist, 1 otherwise.
set -euo pipefail

NO_PULL=${PF_DOCKER_NO_PULL:-0}
REFRESH_ROOTFS=0
for arg in "$@"; do
    case "$arg" in
        --no-pull) NO_PULL=1 ;;
        --refresh-rootfs) REFRESH_ROOTFS=1 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "docker-bootstrap: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

MIRROR=${PF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE_DIR=${PF_CACHE_DIR:-/var/cache/proxyfleet}
PULL_TIMEOUT_S=${PF_PULL_TIMEOUT_S:-20}
ROOTFS_TAR="$CACHE_DIR/debian-bookworm-minbase.tar.gz"
REDIS_IMAGE=redis:7-bookworm

log() { printf '[docker-bootstrap] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_root() {
    [ "$(id -u)" -eq 0 ] || die "$1 needs root (run as root or install docker yourself)"
}

# 1. packages -----------------------------------------------------------
ensure_packages() {
    local missing=()
    # A reachable engine is enough; otherwise we need dockerd and its CLI.
    if ! timeout 20 docker info >/dev/null 2>&1; then
        if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
            missing+=(docker.io)
        fi
    fi
    if ! command -v docker-compose >/dev/null 2>&1 \
        && ! docker compose version >/dev/null 2>&1; then
        missing+=(docker-compose)
    fi
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    [ "${#missing[@]}" -eq 0 ] && return 0
    as_root "installing ${missing[*]}"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq || die "apt-get update failed"
    # With recommends, as in the tested recipe (docs/docker.md): docker.io
    # recommends cgroupfs-mount, apparmor, xz-utils.
    timeout 900 apt-get install -y -qq "${missing[@]}" \
        || die "apt-get install ${missing[*]} failed"
}

# 2. engine -------------------------------------------------------------
ensure_dockerd() {
    if timeout 20 docker info >/dev/null 2>&1; then
        return 0
    fi
    as_root "starting dockerd"
    log "starting dockerd (log: /tmp/dockerd.log)"
    # Own session: a `timeout` around the caller signals its whole process
    # group on expiry, and the engine must outlive that to tear down.
    setsid nohup dockerd >/tmp/dockerd.log 2>&1 </dev/null &
    local i
    for i in $(seq 60); do
        timeout 5 docker info >/dev/null 2>&1 && { log "dockerd up after ${i}s"; return 0; }
        sleep 1
    done
    tail -n 20 /tmp/dockerd.log >&2 || true
    die "dockerd did not come up within 60s"
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

try_pull() {
    [ "$NO_PULL" = 1 ] && return 1
    log "trying: docker pull $1 (at most ${PULL_TIMEOUT_S}s)"
    timeout "$PULL_TIMEOUT_S" docker pull -q "$1" >/dev/null 2>&1
}

# `docker build` that works with the legacy builder and with BuildKit
# (a CLI without the buildx plugin refuses BuildKit builds).
docker_build() {
    if docker buildx version >/dev/null 2>&1; then
        docker build "$@"
    else
        DOCKER_BUILDKIT=0 docker build "$@"
    fi
}

# 3a. debian base images ------------------------------------------------
build_rootfs_tar() {
    as_root "debootstrap"
    local dir
    dir=$(mktemp -d /tmp/pf-rootfs.XXXXXX)
    log "debootstrap --variant=minbase bookworm from $MIRROR (about a minute)"
    if ! timeout 900 debootstrap --variant=minbase bookworm "$dir" "$MIRROR" \
        >/tmp/pf-debootstrap.log 2>&1; then
        tail -n 20 /tmp/pf-debootstrap.log >&2 || true
        rm -rf "$dir"
        die "debootstrap failed (log: /tmp/pf-debootstrap.log)"
    fi
    # Make it look like the official image: deb822 sources with updates and
    # security, no daemons started by package scripts, no apt caches.
    rm -f "$dir/etc/apt/sources.list"
    local sec_mirror=${MIRROR%/debian}/debian-security
    cat >"$dir/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $sec_mirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
    chmod 755 "$dir/usr/sbin/policy-rc.d"
    cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
        "$dir"/var/log/* "$dir"/tmp/*
    mkdir -p "$dir/var/lib/apt/lists/partial" "$CACHE_DIR"
    tar -C "$dir" --numeric-owner -cf - . | gzip -1 >"$ROOTFS_TAR.tmp"
    mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
    rm -rf "$dir"
    log "cached rootfs: $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1))"
}

ensure_debian_images() {
    local need=() img
    for img in debian:bookworm-slim debian:bookworm; do
        have_image "$img" || try_pull "$img" || need+=("$img")
    done
    [ "${#need[@]}" -eq 0 ] && return 0
    if [ "$REFRESH_ROOTFS" = 1 ] || [ ! -s "$ROOTFS_TAR" ]; then
        build_rootfs_tar
    else
        log "using cached rootfs $ROOTFS_TAR"
    fi
    # Both tags come from the same minbase rootfs: the build stage installs
    # what it needs, so debian:bookworm's extra packages are not required.
    local first=${need[0]}
    log "importing $first from the rootfs"
    docker import --change 'CMD ["bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "$ROOTFS_TAR" "$first" >/dev/null || die "docker import failed"
    for img in "${need[@]:1}"; do
        log "tagging $img"
        docker tag "$first" "$img"
    done
}

# 3b. redis stand-in ----------------------------------------------------
ensure_redis_image() {
    have_image "$REDIS_IMAGE" && return 0
    try_pull "$REDIS_IMAGE" && return 0
    log "building stand-in $REDIS_IMAGE from debian:bookworm-slim + redis-server"
    # Behaves like the official image for compose.yaml: listens on all
    # interfaces without protected mode, no persistence, redis-cli on PATH,
    # and the redis user is uid/gid 999 as there (compose.yaml runs it as
    # "999:999").
    # The official entrypoint adds --protected-mode no to a bare
    # `redis-server` command; this one does the same for any command that
    # starts with redis-server.
    docker_build -q -t "$REDIS_IMAGE" --label org.proxyfleet.standin=1 - <<'EOF' >/dev/null \
        || die "building the $REDIS_IMAGE stand-in failed"
FROM debian:bookworm-slim
RUN groupadd --system --gid 999 redis \
 && useradd --system --uid 999 --gid redis --home-dir /var/lib/redis --shell /usr/sbin/nologin redis \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data \
 && printf '%s\n' '#!/bin/sh' \
      'if [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi' \
      'if [ "$1" = redis-server ]; then shift; set -- redis-server --protected-mode no --bind 0.0.0.0 "$@"; fi' \
      'exec "$@"' > /usr/local/bin/docker-entrypoint.sh \
 && chmod 755 /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server", "--save", "", "--appendonly", "no"]
EOF
}

main() {
    ensure_packages
    ensure_dockerd
    ensure_debian_images
    ensure_redis_image
    log "ready: $(docker image ls --format '{{.Repository}}:{{.Tag}}' \
        | grep -E '^(debian:bookworm(-slim)?|redis:7-bookworm)$' | sort | tr '\n' ' ')"
}

main
