# syntax=docker/dockerfile:1
# The HyperCache image: a build stage with the Rust toolchain, then a slim runtime holding only
# the binary, run as a non-root user.
#
#   docker build -t hypercache .
#   docker run -p 8080:8080 -p 9080:9080 hypercache   # RESP on 8080, HTTP on 9080
#
# Where no registry is reachable, scripts/container-image.sh makes both base images from
# Debian packages and passes them in as RUST_IMAGE and RUNTIME_IMAGE (podman, buildah).
ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY benches benches
COPY src src
# The caches keep the crate downloads and the build between image builds; the binary is
# copied out of the cached target directory, which the next stage cannot see.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin hypercache \
    && cp target/release/hypercache /usr/local/bin/hypercache \
    && strip --strip-debug /usr/local/bin/hypercache

FROM ${RUNTIME_IMAGE}
RUN groupadd --system --gid 10001 hypercache \
    && useradd --system --uid 10001 --gid hypercache --no-create-home \
       --home-dir /var/lib/hypercache --shell /usr/sbin/nologin hypercache \
    && mkdir -p /var/lib/hypercache /var/log/hypercache /etc/hypercache \
    && chown hypercache:hypercache /var/lib/hypercache /var/log/hypercache
COPY --from=build /usr/local/bin/hypercache /usr/local/bin/hypercache
COPY deploy/docker/hypercache.yaml /etc/hypercache/hypercache.yaml
# Every key can be changed by a HYPERCACHE_* variable (README, "Configuration") or by
# mounting another file over /etc/hypercache/hypercache.yaml. HYPERCACHE_BIND is the
# container's `--bind 0.0.0.0`: as a variable, `hypercache health` reads it too.
ENV HYPERCACHE_CONFIG=/etc/hypercache/hypercache.yaml \
    HYPERCACHE_BIND=0.0.0.0
USER hypercache:hypercache
WORKDIR /var/lib/hypercache
VOLUME ["/var/lib/hypercache", "/var/log/hypercache"]
# RESP, HTTP, gossip.
EXPOSE 8080/tcp 9080/tcp 7946/udp
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["hypercache", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["hypercache"]
