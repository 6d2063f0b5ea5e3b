# Build, test, lint and release atlas_backup_exporter. Needs Go; `release` also needs tar, zip and
# sha256sum (or shasum), `image` needs Docker with buildx.
#
#   make build                  ./atlas_backup_exporter for this machine, version stamped
#   make version                the version a build here would stamp
#   make test                   the README's test command
#   make lint                   gofmt, go vet, staticcheck
#   make ci                     what .ci/run runs: the gofmt check, then make test with Prometheus 3
#   make release                dist/: archives for every platform in PLATFORMS and sha256sums.txt
#   make image                  the container image (IMAGE, IMAGE_PLATFORMS, IMAGE_FLAGS)

GO ?= go
BINARY := atlas_backup_exporter
OUT ?= $(BINARY)
DIST ?= dist

# The version stamped into the binary: the tag (less its v) when HEAD is exactly at a v* tag,
# else the VERSION file (X.Y.Z-dev between releases); the commit, its branch and its time (UTC),
# so two builds of one commit are the same. Each can be set on the command line. The
# `X := $(X)` lines evaluate git once rather than at every use.
VERSION ?= $(shell git describe --tags --exact-match --match 'v[0-9]*' HEAD 2>/dev/null | sed 's/^v//' | grep . || cat VERSION)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
BRANCH ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
BUILD_DATE ?= $(shell TZ=UTC git show -s --format=%cd --date=format-local:%Y%m%d-%H:%M:%S HEAD 2>/dev/null)
VERSION := $(VERSION)
REVISION := $(REVISION)
BRANCH := $(BRANCH)
BUILD_DATE := $(BUILD_DATE)

GOOS ?= $(shell $(GO) env GOOS)
GOARCH ?= $(shell $(GO) env GOARCH)
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

IMAGE ?= atlas_backup_exporter:$(VERSION)
IMAGE_PLATFORMS ?= linux/amd64
IMAGE_FLAGS ?=

SHA256SUM ?= $(shell command -v sha256sum >/dev/null 2>&1 && echo sha256sum || echo shasum -a 256)

version_pkg := github.com/prometheus/common/version
LDFLAGS := -s -w -X $(version_pkg).Version=$(VERSION) -X $(version_pkg).Revision=$(REVISION) \
	-X $(version_pkg).Branch=$(BRANCH) -X $(version_pkg).BuildDate=$(BUILD_DATE)

.PHONY: build version test fmt lint ci release image clean

build:
	CGO_ENABLED=0 GOOS=$(GOOS) GOARCH=$(GOARCH) $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(OUT) .

version:
	@echo $(VERSION)

test:
	go vet ./... && go tool staticcheck ./... && go test -race -count=1 ./...

# fmt fails when gofmt would change a file.
fmt:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted" >&2; exit 1; fi

lint: fmt
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# CI, once .ci/run has installed what the tests need: the format check, then the test command
# with Prometheus 3 (built once by .ci/prometheus3, then cached) beside Debian's 2 for the rule
# and end-to-end tests, which fail rather than skip under CI=true when either is missing.
ci: fmt
	PROMETHEUS3_DIR=$$(.ci/prometheus3) && export PROMETHEUS3_DIR && $(MAKE) --no-print-directory test

# One archive per platform, named as the Prometheus exporters name theirs
# (atlas_backup_exporter-0.1.0.linux-amd64.tar.gz; .zip for Windows), holding the binary, the
# licence, the README, the changelog and the example configuration.
release:
	rm -rf $(DIST)
	mkdir -p $(DIST)
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; name=$(BINARY)-$(VERSION).$$os-$$arch; exe=; \
		if [ "$$os" = windows ]; then exe=.exe; fi; \
		echo "building $$name"; \
		$(MAKE) --no-print-directory build GOOS=$$os GOARCH=$$arch OUT=$(DIST)/$$name/$(BINARY)$$exe; \
		cp LICENSE README.md CHANGELOG.md config.example.yml $(DIST)/$$name/; \
		if [ "$$os" = windows ]; then (cd $(DIST) && zip -qr $$name.zip $$name); \
		else tar -C $(DIST) -czf $(DIST)/$$name.tar.gz $$name; fi; \
		rm -rf $(DIST)/$$name; \
	done
	cd $(DIST) && $(SHA256SUM) $$(ls *.tar.gz *.zip 2>/dev/null) > sha256sums.txt

image:
	docker buildx build --platform $(IMAGE_PLATFORMS) --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
		--build-arg BUILD_DATE=$(BUILD_DATE) -t $(IMAGE) $(IMAGE_FLAGS) .

clean:
	rm -rf $(DIST) $(BINARY)
