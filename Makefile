# crisp: build, test and run. `make test` is what CI runs (see .ci/run).
SHELL := /bin/bash
NPX := npx --no-install
GENERATED := packages/api/src/generated

.PHONY: all deps generate build typecheck test unit integration bench run clean setup install

all: build

# Dependencies from the lock file (the Debian packages come from scripts/setup-node.sh).
deps: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# Generated code is never edited: it is rebuilt from protos/ whenever a proto or the template changes.
generate: $(GENERATED)/.stamp
$(GENERATED)/.stamp: deps buf.yaml buf.gen.yaml $(shell find protos -name '*.proto')
	$(NPX) buf generate
	@touch $@

build: generate
	$(NPX) tsc -b
	chmod +x packages/server/dist/cli.js packages/metrics-exporter/dist/cli.js

typecheck: generate
	$(NPX) tsc -p tsconfig.test.json

unit: generate
	$(NPX) jest --selectProjects unit

integration: build
	$(NPX) jest --selectProjects integration --runInBand

# Everything: types, unit tests, then integration tests against a real containerd (needs root).
test: setup build typecheck
	bash scripts/test.sh

bench: build
	node e2e/dist/bench/index.js

# Sets up this machine (Debian packages, npm deps, build) and runs crisp in the foreground.
run: setup build
	node packages/server/dist/cli.js serve $(ARGS)

setup:
	bash scripts/setup-node.sh

# Installs this checkout's build as /usr/local/bin/crisp, the systemd unit, and a default config if none.
install: build
	install -d /usr/local/bin /etc/crisp /etc/systemd/system
	printf '#!/bin/sh\nexec node %s/packages/server/dist/cli.js "$$@"\n' "$(CURDIR)" > /usr/local/bin/crisp
	chmod 755 /usr/local/bin/crisp
	install -m 644 deploy/crisp.service /etc/systemd/system/crisp.service
	[ -f /etc/crisp/config.toml ] || node packages/server/dist/cli.js config default > /etc/crisp/config.toml

clean:
	rm -rf $(GENERATED) packages/*/dist e2e/dist packages/*/tsconfig.tsbuildinfo e2e/tsconfig.tsbuildinfo
