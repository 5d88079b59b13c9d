# syntax=docker/dockerfile:1

# The FHIR facade and the backend simulators, as static binaries on a
# distroless base that runs as a non-root user.
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t fhir-facade .
#   docker run --rm -p 8080:8080 fhir-facade        # FHIR base: http://localhost:8080/fhir
#
# With no backend configured the facade starts the embedded sandbox
# simulators on loopback ports inside the container; point it at real
# services with the PDS_BASE_URL, PDS_TOKEN_FILE... environment variables.

FROM golang:1.26 AS build
WORKDIR /src
# Build with the image's toolchain, never a downloaded one; no cgo, so the
# binaries need no libc.
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
# Dependencies first, in their own layer, so a source change does not
# download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath \
        -ldflags "-s -w -X github.com/carerecords/fhir-facade/cmd/facade/app.Version=${VERSION}" \
        -o /out/ ./cmd/facade ./cmd/sandbox

# distroless/static brings CA certificates (for the national services over
# TLS), tzdata and a nonroot user (65532), and no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/facade /out/sandbox /usr/local/bin/
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/facade", "-addr", "0.0.0.0:8080"]
