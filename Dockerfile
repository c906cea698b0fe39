# syntax=docker/dockerfile:1

# One image for every role: `wmtna api`, `wmtna worker`, `wmtna migrate`
# (and `wmtna dev` for a single-process trial). See docker-compose.yml.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, in their own layer: it is rebuilt only when go.mod or
# go.sum change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /wmtna ./cmd/wmtna

# Static binary on a distroless base: CA certificates, no shell, non-root.
# The time zone database is embedded in the binary (package referral).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /wmtna /wmtna
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/wmtna"]
