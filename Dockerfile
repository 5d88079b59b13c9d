# syntax=docker/dockerfile:1

# The FHIR facade and the backend simulators, as static binaries on a
# distroless base that runs as a non-root user.
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t fhir-facade .
#
# The facade listens on 0.0.0.0:8080, as a container must. Without
# AUTH_ISSUER it would run its LOCAL TEST token issuer, whose client secret
# is published in the README, so anyone reaching the port could mint a
# clinician's token: the image therefore refuses to start until you choose.
# It also needs FACADE_BASE_URL, the public FHIR base clients reach (links,
# SMART endpoints, token iss and audience are made from it), since 0.0.0.0
# names no host a client could use.
#
# A demonstration on the embedded sandbox (synthetic data only), saying so
# out loud:
#
#   docker run --rm -p 127.0.0.1:8080:8080 -e FACADE_INSECURE_DEMO_ISSUER=true \
#     -e FACADE_BASE_URL=http://localhost:8080/fhir fhir-facade
#   # FHIR base: http://localhost:8080/fhir; tokens: POST /oauth/token (README)
#
# For real: a real token issuer (AUTH_ISSUER, its JWKS at AUTH_JWKS_URL),
# the public FHIR base clients use (FACADE_BASE_URL, also the default token
# audience), and every backend's base URL and token; a backend left without
# a base URL is served by the embedded sandbox. Tokens as files readable by
# uid 65532 (never as -e values); the audit log's directory writable by it:
#
#   docker run --rm -p 8080:8080 \
#     -e AUTH_ISSUER=https://login.example.nhs.uk \
#     -e AUTH_JWKS_URL=https://login.example.nhs.uk/.well-known/jwks.json \
#     -e FACADE_BASE_URL=https://fhir.example.nhs.uk/fhir \
#     -e PDS_BASE_URL=https://int.api.service.nhs.uk/personal-demographics/FHIR/R4 \
#     -e PDS_TOKEN_FILE=/run/secrets/pds-token \
#     -e SCR_BASE_URL=... -e SCR_TOKEN_FILE=/run/secrets/scr-token \
#     ... (NRL, RA, CPIS, FGM, OVM, IMMS and BNA alike) \
#     -e AUDIT_LOG=/var/log/facade/audit.jsonl \
#     -v /srv/facade/secrets:/run/secrets:ro -v /srv/facade/log:/var/log/facade \
#     fhir-facade
#
# README.md, "Configuration" and "Docker", lists every variable.

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
# 0.0.0.0: the published port reaches the container's interface, not its
# loopback. The facade refuses this address without FACADE_BASE_URL, and,
# with the local test issuer, unless FACADE_INSECURE_DEMO_ISSUER=true (see above).
ENTRYPOINT ["/usr/local/bin/facade", "-addr", "0.0.0.0:8080"]
