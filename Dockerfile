# syntax=docker/dockerfile:1
# Build: docker build --build-arg VERSION=$(git describe --tags --always) --build-arg REVISION=$(git rev-parse HEAD) -t atlas_backup_exporter .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${REVISION} -X github.com/prometheus/common/version.Branch=main" -o /out/atlas_backup_exporter .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/atlas_backup_exporter /bin/atlas_backup_exporter
USER 65532:65532
EXPOSE 9891
ENTRYPOINT ["/bin/atlas_backup_exporter"]
CMD ["--config.file=/etc/atlas_backup_exporter/config.yml"]
