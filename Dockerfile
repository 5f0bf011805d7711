# Cairn as a container: built in one stage, run as a non-root user from a slim image.
#
#   docker build -t cairn .
#   docker run -d --name cairn -v cairn-data:/data \
#     -p 4701:4701/tcp -p 4701:4701/udp -p 127.0.0.1:8701:8701 cairn
#   docker exec cairn cairn id
#
# The data dir is the volume /data (config.toml, identity.key, api.token, the database and the
# blocks). On first start the entrypoint initializes it with the gateway on all of the
# container's interfaces (publish it on 127.0.0.1, or put a proxy with TLS in front), the API
# on the container's loopback (reach it with `docker exec`) and the swarm on 4701.
# `docker stop` sends SIGTERM: the daemon stops gracefully and exits 0. See docs/operators.md.

FROM rust:1.94-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY contracts ./contracts
COPY benches ./benches
COPY tests ./tests
RUN cargo build --release --locked --bin cairn \
 && install -m 0755 target/release/cairn /usr/local/bin/cairn

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 cairn \
 && useradd --system --uid 10001 --gid cairn --home-dir /data --shell /usr/sbin/nologin cairn \
 && mkdir -p /data && chown cairn:cairn /data && chmod 0700 /data
COPY --from=build /usr/local/bin/cairn /usr/local/bin/cairn
COPY dist/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER cairn:cairn
ENV CAIRN_PATH=/data
VOLUME ["/data"]
# swarm (TCP and QUIC), gateway
EXPOSE 4701/tcp 4701/udp 8701/tcp
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["daemon"]
