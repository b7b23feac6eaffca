# tickpulse: the server, the feeder and the built site in a slim image.
#   docker build -t tickpulse .
#   docker run -p 3000:3000 --read-only -v tickpulse-data:/data \
#     -e INGEST_PASSWORD=… tickpulse            # the embedded mode
# The build stage runs the project's own release build
# (scripts/setup.sh run, then scripts/build-release.sh), nothing else.

FROM rust:1.95-slim-bookworm AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl gcc libc6-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN scripts/setup.sh run && scripts/build-release.sh

FROM debian:bookworm-slim
# curl answers the HEALTHCHECK; ca-certificates for TLS to Redis or Postgres.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home tickpulse \
    && mkdir -p /data \
    && chown tickpulse:tickpulse /data
COPY --from=build /src/target/release/tickpulse /src/target/release/tickpulse-feeder /usr/local/bin/
COPY --from=build /src/target/site /srv/tickpulse/site
# Everything but DATA_DIR can be read-only (docker run --read-only).
ENV TICKPULSE_ADDR=0.0.0.0:3000 \
    SITE_ROOT=/srv/tickpulse/site \
    DATA_DIR=/data \
    LOG_FORMAT=json
USER 10001:10001
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:3000/health/liveness"]
ENTRYPOINT ["tickpulse"]
