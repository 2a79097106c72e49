# syntax=docker/dockerfile:1
# ahead-sync in a container: built in one stage, run in a small one as a user without
# privileges. The store (and the inbox the ERP drops files into) lives on a volume at /data;
# secrets come from the environment (AHEAD_SYNC__API__CLIENT_SECRET, ...), never from the image.
#
#   docker build -t ahead-sync .
#   docker run --rm -v ahead-sync-acme:/data -v "$PWD/config:/etc/ahead-sync:ro" \
#       -e AHEAD_SYNC__API__CLIENT_SECRET ahead-sync
#
# The default command is one `sync` (for a scheduler: cron, a Kubernetes CronJob); pass
# `daemon` or `webhooks serve --bind 0.0.0.0:8787` to run those instead.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The registry and the build folder are BuildKit caches: a rebuild after a source change
# compiles only this crate.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin ahead-sync \
    && cp target/release/ahead-sync /usr/local/bin/ahead-sync

FROM debian:bookworm-slim
# TLS to AHEAD is checked against the system's certificate authorities.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home ahead-sync \
    && mkdir -p /data /etc/ahead-sync \
    && chown ahead-sync:ahead-sync /data
COPY --from=build /usr/local/bin/ahead-sync /usr/local/bin/ahead-sync
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# The configuration is mounted here (read-only is fine); its relative paths (mappings/...) are
# read beside it. The store must be on the volume, wherever the configuration says it is.
ENV AHEAD_SYNC__STORE__PATH=/data/ahead-sync.db
ENTRYPOINT ["ahead-sync", "--config", "/etc/ahead-sync/ahead-sync.toml", "--log-format", "json"]
CMD ["sync"]
