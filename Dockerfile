# syntax=docker/dockerfile:1
# The gateway image: the gateway and cachesrv binaries on a runtime that also has Python (uv,
# uvx) and Node.js (npx), so stdio MCP servers started with `uvx ...` or `npx ...` work inside
# the container, as with the reference image.
#
#   docker build -t secure-mcp-gateway .
#   docker run --rm -v ~/.enkrypt/docker:/app/.enkrypt/docker \
#     --entrypoint python secure-mcp-gateway -m secure_mcp_gateway.cli generate-config
#   docker run -d --name secure-mcp-gateway -p 8000:8000 \
#     -v ~/.enkrypt/docker:/app/.enkrypt/docker secure-mcp-gateway
#
# The config lives in the volume at /app/.enkrypt/docker; the gateway listens on 0.0.0.0:8000
# (it detects the container) with the embedded cache. The process runs as uid 10001: give that
# uid write access to the mounted directory, or run with `--user "$(id -u):$(id -g)"`.

ARG RUST_VERSION=1.89
ARG PYTHON_VERSION=3.12
ARG NODE_VERSION=22

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p gateway -p cachesrv \
    && install -D -m 0755 target/release/secure-mcp-gateway /out/secure-mcp-gateway \
    && install -D -m 0755 target/release/cachesrv /out/cachesrv

FROM node:${NODE_VERSION}-bookworm-slim AS node

FROM ghcr.io/astral-sh/uv:latest AS uv

FROM python:${PYTHON_VERSION}-slim-bookworm
# Node.js and npm/npx from the official Node image (same Debian release).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && node --version && npx --version
COPY --from=uv /uv /uvx /usr/local/bin/
COPY --from=build /out/secure-mcp-gateway /out/cachesrv /usr/local/bin/
# `python -m secure_mcp_gateway.cli ...` (the reference's entry point) runs the same CLI.
COPY docker/python /opt/secure-mcp-gateway/python
ENV PYTHONPATH=/opt/secure-mcp-gateway/python \
    HOME=/app \
    ENKRYPT_DOCKER=true \
    ENKRYPT_GATEWAY_HOST=0.0.0.0
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app/.enkrypt/docker \
    && chown -R app:app /app
WORKDIR /app
USER 10001:10001
VOLUME ["/app/.enkrypt/docker"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["secure-mcp-gateway"]
CMD ["start"]
