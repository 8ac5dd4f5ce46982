# syntax=docker/dockerfile:1
#
# mediapipe's container image: one static binary with every command (run,
# ingest, analyzer, downloader, migrate, tenant, reprocess, export, import,
# ...), on a distroless base (CA certificates, no shell), as an unprivileged
# user. deploy/compose and deploy/k8s run it; docs/OPERATIONS.md explains how.
#
#   docker build -t mediapipe:dev \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg REVISION_TIME=$(git log -1 --format=%cI) .
#   docker run --rm mediapipe:dev version
#   docker run --rm mediapipe:dev --help
#   docker run --rm -e DATABASE_URL=postgres://... -e NATS_URL=nats://... mediapipe:dev downloader
#
# Multi-platform: docker buildx build --platform linux/amd64,linux/arm64 .

ARG GO_VERSION=1.26.8
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd/ cmd/
COPY internal/ internal/
COPY pkg/ pkg/
COPY migrations/ migrations/
COPY deploy/probe/ deploy/probe/
ARG TARGETOS
ARG TARGETARCH
# Which build this is: `mediapipe version`, the mediapipe_build_info metric
# and the "mediapipe starting" log line show it. The context leaves .git out
# (.dockerignore), so the toolchain cannot stamp the VCS revision itself: it
# comes in through these build arguments (empty when not given).
ARG VERSION=""
ARG REVISION=""
ARG REVISION_TIME=""
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w \
      -X github.com/multichat/mediapipe/internal/buildinfo.version=${VERSION} \
      -X github.com/multichat/mediapipe/internal/buildinfo.revision=${REVISION} \
      -X github.com/multichat/mediapipe/internal/buildinfo.revisionTime=${REVISION_TIME}" \
      -o /out/ ./cmd/mediapipe ./deploy/probe
# Directories the unprivileged user writes: DATA_DIR (embedded NATS of
# `mediapipe run`) and /media, where compose and Kubernetes mount MEDIA_DIR.
RUN mkdir -p /out/data /out/media

FROM ${RUNTIME_IMAGE}
ARG VERSION=""
ARG REVISION=""
LABEL org.opencontainers.image.title="mediapipe" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.description="WhatsApp webhooks (W-API, Evolution API, WAHA, Z-API, Meta) to verified, decrypted media files catalogued in PostgreSQL" \
      org.opencontainers.image.source="https://github.com/multichat/mediapipe"
COPY --from=build /out/mediapipe /out/probe /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build --chown=65532:65532 /out/media /media
# 65532 is distroless's "nonroot"; numeric so that runAsNonRoot can verify it.
USER 65532:65532
ENV DATA_DIR=/data \
    HTTP_ADDR=:8080 \
    LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/probe", "/readyz"]
ENTRYPOINT ["/usr/local/bin/mediapipe"]
CMD ["run"]
