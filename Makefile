# BoilerWatch. The two commands a newcomer needs: `make demo` and `make test`.
GO      ?= go
BIN     := bin
DEPS    := .deps
INFLUXD := $(DEPS)/bin/influxd
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
CMDS    := ./gateway/cmd/gateway ./collector/cmd/collector ./simulator/cmd/simulator ./firmware-config/cmd/fwconfig

.PHONY: all build deps debs test check demo screenshot bench scale chaos exact-month release qemu clean

all: build

## build: compile gateway, collector, simulator and fwconfig into bin/
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ $(CMDS)

## deps: provision what tests and the demo need: InfluxDB 1.8 (built once into .deps/bin) and Debian packages
deps: $(INFLUXD) debs

# Telegraf, only for make bench's comparison (BW_TELEGRAF=1): the plugins it needs, about a minute to build.
TELEGRAF := $(DEPS)/bin/telegraf
$(TELEGRAF):
	GOBIN=$(abspath $(DEPS)/bin) $(GO) install -tags custom,inputs.modbus,inputs.mqtt_consumer,outputs.influxdb_v2,outputs.mqtt,parsers.json,serializers.json \
		github.com/influxdata/telegraf/cmd/telegraf@v1.37.2

$(INFLUXD):
	@echo "building InfluxDB 1.8.10 into $(DEPS)/bin (once, about 2-3 minutes)"
	GOBIN=$(abspath $(DEPS)/bin) $(GO) install github.com/influxdata/influxdb/cmd/influxd@v1.8.10

# Debian packages the tests use: the broker, independent Modbus clients
# (mbpoll, pymodbus), socat for serial pseudo-terminals, chromium for the
# console's browser tests with a CJK font (fonts-noto-cjk: without it the
# Chinese pages are drawn as boxes), and qemu-user-static to run the arm and
# mipsle gateways (TestCrossBuiltGateway). Installed in one apt-get run when missing.
DEBS := mosquitto:/usr/sbin/mosquitto socat:/usr/bin/socat mbpoll:/usr/bin/mbpoll \
	python3-pymodbus:/usr/lib/python3/dist-packages/pymodbus chromium:/usr/bin/chromium \
	fonts-noto-cjk:/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc \
	qemu-user-static:/usr/bin/qemu-mipsel-static

debs:
	@missing=""; for d in $(DEBS); do pkg=$${d%%:*}; path=$${d#*:}; \
		[ -e "$$path" ] || missing="$$missing $$pkg"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "missing Debian packages:$$missing; run: sudo apt-get install -y$$missing (or make deps as root)" >&2; exit 1; \
	fi

## check: gofmt and go vet
check:
	@out=$$(gofmt -l gateway collector firmware-config simulator deploy docs); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## test: install what is missing, then run every test, integration tests included
## (the chaos test with 25 s outages; make chaos runs the 60 s ones)
test: deps check
	CI=$${CI:-true} BW_CHAOS_OUTAGE=$${BW_CHAOS_OUTAGE:-25s} $(GO) test -count=1 -timeout 20m ./...

## chaos: the zero-loss proof with 60 s broker and InfluxDB outages, two collectors, then one
chaos: deps
	CI=$${CI:-true} BW_CHAOS_OUTAGE=60s $(GO) test -count=1 -v -timeout 20m -run '^TestChaos$$' ./collector/e2e/
	CI=$${CI:-true} BW_CHAOS_OUTAGE=60s BW_CHAOS_COLLECTORS=1 $(GO) test -count=1 -v -timeout 20m -run '^TestChaos$$' ./collector/e2e/

## exact-month: the energy engine's exactness test over a whole simulated month (make test runs three days): every stored
## value and alert against an uninterrupted run, killed between cycles and mid-write, writes refused, a 2-hour outage replayed
exact-month: deps
	CI=$${CI:-true} BW_EXACT_SPAN=month $(GO) test -count=1 -timeout 45m -run '^TestExactAcrossRestartsAndLateData$$' ./collector/derived/

## demo: run the whole pipeline on the simulator with a day of history, the console and the efficiency engine (Ctrl-C stops it)
# Built and run rather than go run: go run exits 1 after Ctrl-C even when
# the demo stops cleanly, and make then reports an error. DEMO_FLAGS passes
# flags, e.g. make demo DEMO_FLAGS="-backfill 2h".
demo: build deps
	$(GO) build -o $(BIN)/ ./deploy/demo
	./$(BIN)/demo $(DEMO_FLAGS)

## screenshot: refresh docs/demo-boiler.png, the console's boiler page over the demo's own day (TestDemo with 24 h of history, Chromium)
screenshot: deps
	BW_DEMO_BACKFILL=24h BW_DEMO_SCREENSHOT=docs/demo-boiler.png $(GO) test -count=1 -v -timeout 15m -run '^TestDemo$$' ./deploy/demo

## bench: benchmarks, printed as tables; then the built binaries as processes (docs/performance.md): bin/collector draining 50,000
## queued messages against a bare subscriber and InfluxDB alone, bin/gateway polling 20 meters and the reference site for
## BW_BENCH_DURATION (default 60s) each, Telegraf beside the collector and the 20 meters with BW_TELEGRAF=1 (installed into .deps/bin once);
## then a gateway polling 50 simulated devices for BW_RSS_DURATION (default 10m): peak RSS and CPU per poll;
## then the flash budget: bytes a gateway polling 20 meters writes to the block device, online for BW_FLASH_ONLINE (default 5m) and through a broker outage of BW_FLASH_OUTAGE (default 10m)
bench: build deps
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@if [ -n "$$BW_TELEGRAF" ] && [ ! -x $(TELEGRAF) ]; then $(MAKE) $(TELEGRAF); fi
	BW_BENCH_BINARIES=1 BW_BENCH_BIN=$(abspath $(BIN)) BW_BENCH_DURATION=$${BW_BENCH_DURATION:-60s} \
		BW_BENCH_TELEGRAF=$${BW_TELEGRAF:+$(abspath $(TELEGRAF))} \
		$(GO) test -run '^Test(CollectorDrain|GatewayCPU)Bench$$' -v -count=1 -timeout 30m ./collector/e2e
	BW_RSS=1 BW_RSS_DURATION=$${BW_RSS_DURATION:-10m} $(GO) test -run '^TestGatewayRSS$$' -v -count=1 -timeout 60m ./collector/e2e
	BW_FLASH=1 BW_FLASH_ONLINE=$${BW_FLASH_ONLINE:-5m} BW_FLASH_OUTAGE=$${BW_FLASH_OUTAGE:-10m} $(GO) test -run '^TestGatewayFlash$$' -v -count=1 -timeout 90m ./collector/e2e

## scale: province scale (docs/scaling.md): simulator/cmd/loadgen plays BW_SCALE_N gateways (default 250,500,1000,2000) against
## Mosquitto, bin/collector with its energy engine and console, and InfluxDB 1.8, each N for BW_SCALE_DURATION (default 2m, 3m, 5m,
## 10m); prints one table, TARGET MET/MISSED lines and last "scale: N gateways, ingest p99 X s, engine lag Y s, overview Z s"
scale: build deps
	$(GO) build -o $(BIN)/ ./simulator/cmd/loadgen
	@rm -f $(DEPS)/scale-report.txt
	BW_SCALE=1 BW_SCALE_BIN=$(abspath $(BIN)) BW_SCALE_REPORT=$(abspath $(DEPS))/scale-report.txt \
		$(GO) test -run '^TestScale$$' -v -count=1 -timeout 90m ./collector/e2e
	@cat $(DEPS)/scale-report.txt

## release: cross-compile stripped binaries for the edge and the server into dist/ and print their sizes
release:
	@rm -rf dist && mkdir -p dist
	@set -e; for t in linux/arm/7 linux/arm64 linux/mipsle/softfloat linux/amd64; do \
		os=$${t%%/*}; rest=$${t#*/}; arch=$${rest%%/*}; variant=$${rest#*/}; [ "$$variant" = "$$rest" ] && variant=; \
		out=dist/gateway-$$os-$$arch; \
		GOOS=$$os GOARCH=$$arch GOARM=$$( [ $$arch = arm ] && echo $$variant ) GOMIPS=$$( [ $$arch = mipsle ] && echo $$variant ) CGO_ENABLED=0 \
			$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $$out ./gateway/cmd/gateway; \
	done
	@set -e; for arch in amd64 arm64; do \
		GOOS=linux GOARCH=$$arch CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/collector-linux-$$arch ./collector/cmd/collector; \
	done
	@cd dist && for f in *; do stat -c '%n %s' $$f; done | awk '{printf "%-28s %6.1f MB\n", $$1, $$2/1048576}'

## qemu: make release, then run its linux/arm and linux/mipsle gateways under qemu-user-static against the simulator and Mosquitto
## (make test runs the same test on binaries it cross-builds itself)
qemu: release deps
	CI=$${CI:-true} BW_QEMU_DIST=$(abspath dist) $(GO) test -count=1 -v -timeout 10m -run '^TestCrossBuiltGateway$$' ./collector/e2e

clean:
	rm -rf $(BIN) $(DEPS)/demo
