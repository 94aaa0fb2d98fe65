# syntax=docker/dockerfile:1
# c360's container image: built in one stage, run from a small one.
#
#   docker build -t c360 .
#   docker run --rm -p 50051:50051 -v "$PWD/c360.toml:/etc/c360/c360.toml:ro" c360
#
# The image runs `c360 serve --config /etc/c360/c360.toml` as an unprivileged user; give it
# the configuration (and secrets by C360_<TABLE>__<KEY> variables or mounted files). It
# listens on 0.0.0.0:50051, so that the published port reaches it; and c360 refuses to start
# beyond loopback unless the configuration turns authentication on (with [server.tls], or
# plaintext_beyond_loopback behind a proxy that terminates TLS) or says a proxy in front
# authenticates every caller (server.unauthenticated_beyond_loopback). See the README's
# Configuration. C360_SERVER__LISTEN overrides the file's server.listen: change it with -e.

# The toolchain: at least the workspace's rust-version.
FROM rust:1.94-bookworm AS build
WORKDIR /src
COPY . .
# GIT_REVISION names the build in `c360 --version` and c360_build_info when .git is not
# copied: docker build --build-arg GIT_REVISION=$(git rev-parse --short=12 HEAD) .
ARG GIT_REVISION=unknown
ENV GIT_REVISION=${GIT_REVISION}
# The crates and the build are cached between builds (BuildKit), not kept in the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin c360 \
    && install -D target/release/c360 /out/c360

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10360 --home-dir /nonexistent --shell /usr/sbin/nologin c360 \
    && install -d -o root -g root -m 0755 /etc/c360
COPY --from=build /out/c360 /usr/local/bin/c360
COPY c360.example.toml /etc/c360/c360.example.toml
USER 10360:10360
ENV C360_SERVER__LISTEN=0.0.0.0:50051
# gRPC (and gRPC-Web), and /metrics when metrics.listen is set.
EXPOSE 50051 9360
# Healthy while the API is SERVING (grpc.health.v1, grpc_health_probe's exit codes); in
# plaintext: with [server.tls], probe https://127.0.0.1:50051 with C360_CA_CERT set.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/c360", "health", "--addr", "127.0.0.1:50051", "--timeout", "3s", "--service", "customer360.v1.CustomerService"]
ENTRYPOINT ["/usr/local/bin/c360"]
CMD ["serve", "--config", "/etc/c360/c360.toml"]
