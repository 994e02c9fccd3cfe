#!/usr/bin/env bash
# Builds the HyperCache container image with podman from local parts only, for machines that
# reach Debian's and Rust's package registries but no image registry:
#   1. a Debian bookworm base image made by debootstrap (the runtime stage's base);
#   2. a Rust build image: that base, a C compiler, and this machine's Rust toolchain;
#   3. the repository's own Dockerfile built on those two (RUST_IMAGE, RUNTIME_IMAGE).
# Steps 1 and 2 are skipped when their images exist. With Docker and a registry, plain
# `docker build -t hypercache .` (make docker-build) does the same job.
#
# Usage: scripts/container-image.sh            (IMAGE, default localhost/hypercache:latest)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

IMAGE=${IMAGE:-localhost/hypercache:latest}
BASE_IMAGE=${BASE_IMAGE:-localhost/hypercache-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
rust_version=$(rustc --version | awk '{print $2}')
RUST_IMAGE=${RUST_IMAGE:-localhost/hypercache-rust:$rust_version}
work=target/container
mkdir -p "$work"

if ! pod image exists "$BASE_IMAGE"; then
  rootfs=$work/rootfs
  $SUDO rm -rf "$rootfs"
  echo "container-image: debootstrap bookworm (minbase) from $MIRROR" >&2
  $SUDO debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  # What a slim image leaves out: documentation, manuals, locales, package caches.
  $SUDO sh -c "rm -rf '$rootfs'/usr/share/doc/* '$rootfs'/usr/share/man/* \
    '$rootfs'/usr/share/info/* '$rootfs'/usr/share/locale/* '$rootfs'/var/cache/apt/*.bin \
    '$rootfs'/var/cache/apt/archives/*.deb '$rootfs'/var/lib/apt/lists/*"
  $SUDO tar -C "$rootfs" -c . | pod import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  $SUDO rm -rf "$rootfs"
fi

if ! pod image exists "$RUST_IMAGE"; then
  sysroot=$(rustc --print sysroot)
  stage=$work/rust
  rm -rf "$stage" && mkdir -p "$stage/rust" "$stage/ca"
  # The toolchain without its documentation; hard links when the disk allows.
  for d in bin lib libexec; do
    [ -d "$sysroot/$d" ] || continue
    cp -al "$sysroot/$d" "$stage/rust/" 2>/dev/null || cp -a "$sysroot/$d" "$stage/rust/"
  done
  cp /usr/local/share/ca-certificates/*.crt "$stage/ca/" 2>/dev/null || true
  echo "container-image: Rust $rust_version build image" >&2
  pod build --build-arg BASE_IMAGE="$BASE_IMAGE" -f deploy/podman/rust.Containerfile \
    -t "$RUST_IMAGE" "$stage"
  rm -rf "$stage"
fi

echo "container-image: building $IMAGE" >&2
# Docker's image format: the OCI one has no HEALTHCHECK.
pod build --format docker --build-arg RUST_IMAGE="$RUST_IMAGE" \
  --build-arg RUNTIME_IMAGE="$BASE_IMAGE" -t "$IMAGE" .
