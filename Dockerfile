# Container image of netcause_exporter.
#
#   make image                      # with docker, podman or buildah
#   docker build -t netcause_exporter .
#
# The runtime stage is `scratch`: the exporter is one static, CGO-free
# binary and reads everything in-process (procfs, netlink, socket options),
# so the image needs no shell, no libc and no iptables/nft binaries. A
# collector that execs a tool would find none here and report
# netcause_collector_unavailable{reason="not_found"} rather than break the
# scrape; reading the kernel directly keeps the image at one file and avoids
# waiting on the xtables lock.

# Any image with a Go toolchain (>= the go line of go.mod) builds it. The
# argument lets a machine without registry access use a base of its own;
# test/deploy builds one from scratch and the host's Go.
ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_DATE=unknown
WORKDIR /src
COPY . .
# Cache mounts keep modules and compiled packages between builds. A context
# with a vendor/ directory builds without network (go uses vendor/ when it
# exists); otherwise modules come from GOPROXY.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOMODCACHE=/go/pkg/mod GOCACHE=/root/.cache/go-build \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH} \
        -X github.com/prometheus/common/version.BuildUser=netcause \
        -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE}" \
      -o /out/netcause_exporter ./cmd/netcause_exporter

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.title="netcause_exporter" \
      org.opencontainers.image.description="Prometheus exporter that tells why packets between two services go missing or arrive late" \
      org.opencontainers.image.url="https://github.com/netcause/netcause" \
      org.opencontainers.image.source="https://github.com/netcause/netcause" \
      org.opencontainers.image.documentation="https://github.com/netcause/netcause/blob/main/docs/deploy.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${BUILD_DATE}"
COPY --from=build /out/netcause_exporter /bin/netcause_exporter
# nobody. Numeric, so Kubernetes' runAsNonRoot can check it without an
# /etc/passwd. Capabilities reach a non-root process only as ambient
# capabilities (podman --cap-add, systemd AmbientCapabilities=); Kubernetes
# sets none, so the Helm chart runs it as UID 0 with every other capability
# dropped (see docs/deploy.md).
USER 65534:65534
EXPOSE 10717
ENTRYPOINT ["/bin/netcause_exporter"]
