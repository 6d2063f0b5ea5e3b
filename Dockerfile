# syntax=docker/dockerfile:1
# Build: make image, or docker buildx build --platform linux/amd64,linux/arm64 --build-arg REVISION=$(git rev-parse HEAD) -t atlas_backup_exporter .
# The build stage runs on the builder's own platform and cross-compiles for the target's.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS TARGETARCH
ARG VERSION
ARG REVISION
ARG BUILD_DATE
# The image has no .git: the version is make image's (the tag of a tagged commit), else VERSION's.
RUN make build GOOS=${TARGETOS} GOARCH=${TARGETARCH} ${VERSION:+VERSION=${VERSION}} REVISION=${REVISION} BRANCH= BUILD_DATE=${BUILD_DATE} OUT=/out/atlas_backup_exporter

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/atlas_backup_exporter /bin/atlas_backup_exporter
USER 65532:65532
EXPOSE 9891
ENTRYPOINT ["/bin/atlas_backup_exporter"]
CMD ["--config.file=/etc/atlas_backup_exporter/config.yml"]
