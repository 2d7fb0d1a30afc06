# Every target runs on a machine with Go and a PostgreSQL server (see README).
GO            ?= go
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN           := bin/orders
GOVULNCHECK   := golang.org/x/vuln/cmd/govulncheck@v1.1.4
# What check-deploy and the cluster tests run, built from the Go module proxy into TOOLS_BIN.
# kustomize is v5.8.2, not v5.8.3: v5.8.3 needs go1.27 and this project builds with go1.26,
# and even built alone with GOTOOLCHAIN=go1.27.3 it cannot be: the module proxy refuses its
# dependency k8s.io/kube-openapi@v0.0.0-20261001230523-97fa35140926 (403, tried 2026-12-01).
# deploy/kubernetes/*_test.go read these two lines to know which versions to accept.
TOOLS_BIN           ?= $(CURDIR)/bin/tools
KUSTOMIZE_VERSION   := v5.8.2
NATS_SERVER_VERSION := v2.15.2
# Fuzz budgets are execution counts, not durations: with a duration, go1.26's fuzz coordinator
# can fail a clean run with "context deadline exceeded" at the deadline (golang/go#75804, fixed
# in go1.27). The counts take about 10 s per target on a 2-core machine. FUZZTIME=5m (or any
# count) overrides all three.
FUZZ_HTTP_EXECS    ?= 20000x
FUZZ_DECODER_EXECS ?= 600000x

# `make run` defaults: the service on :8080, admin on :8081, embedded JetStream under ./data,
# and two development keys (README). They are for a laptop: never set them in production.
DEV_STOREFRONT_KEY := ordk_dev_storefront_demo_do_not_use_in_production
DEV_ADMIN_KEY      := ordk_dev_admin_demo_do_not_use_in_production_00

.PHONY: run build test test-short tools deploy-tools lint fmt fuzz audit check-deploy bench

run: build ## run everything in one process: API, worker, relay, embedded JetStream
	@echo "development keys (bootstrapped by make run):"
	@echo "  storefront 'demo': $(DEV_STOREFRONT_KEY)"
	@echo "  admin:             $(DEV_ADMIN_KEY)"
	exec env ORDERS_BOOTSTRAP_KEYS="storefront:demo:$(DEV_STOREFRONT_KEY),admin::$(DEV_ADMIN_KEY)" ./$(BIN) run

build:
	$(GO) build -o $(BIN) ./cmd/orders

test: tools deploy-tools ## the whole suite against real PostgreSQL and JetStream, with the race detector
	$(GO) test -race -count=1 -timeout 15m ./...

# What the tests run besides Go and PostgreSQL: stripe-mock and Jaeger v2 (Go module proxy;
# Jaeger is built once and cached, scripts/jaeger.sh), and nats-server, prometheus and
# promtool (Debian packages; installing them needs root).
tools:
	@command -v stripe-mock >/dev/null || test -x "$$($(GO) env GOPATH)/bin/stripe-mock" || \
		$(GO) install github.com/stripe/stripe-mock@v0.203.0
	@scripts/jaeger.sh >/dev/null
	@missing=""; \
	command -v nats-server >/dev/null || test -x /usr/sbin/nats-server || missing="$$missing nats-server"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing (Debian packages)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || \
		{ echo "cannot install$$missing: run 'apt-get install$$missing' as root"; exit 1; }; \
	fi

test-short: deploy-tools ## without the race detector, for a quick loop
	$(GO) test -count=1 -timeout 10m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

fuzz: ## short fuzz runs of the request decoder and every message decoder (see the budgets above)
	$(GO) test -run='^$$' -fuzz='^FuzzPostOrder$$' -fuzztime=$(or $(FUZZTIME),$(FUZZ_HTTP_EXECS)) ./handlers/httpapi
	$(GO) test -run='^$$' -fuzz='^FuzzDecodePlaceOrder$$' -fuzztime=$(or $(FUZZTIME),$(FUZZ_DECODER_EXECS)) ./events
	$(GO) test -run='^$$' -fuzz='^FuzzParseEnvelope$$' -fuzztime=$(or $(FUZZTIME),$(FUZZ_DECODER_EXECS)) ./events

audit: ## known vulnerabilities in dependencies; needs vuln.go.dev, which not every machine reaches
	$(GO) run $(GOVULNCHECK) ./...

# kustomize and nats-server 2.15 into TOOLS_BIN, each only when the binary there is not already
# that version (the Go build cache makes a reinstall quick). Debian's nats-server is 2.9: too
# old for the cluster configuration and tests.
deploy-tools:
	@mkdir -p $(TOOLS_BIN)
	@$(TOOLS_BIN)/kustomize version 2>/dev/null | grep -qx '$(KUSTOMIZE_VERSION)' || { \
		echo "installing kustomize $(KUSTOMIZE_VERSION) into $(TOOLS_BIN)"; \
		GOBIN=$(TOOLS_BIN) $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION); }
	@$(TOOLS_BIN)/nats-server --version 2>/dev/null | grep -qx 'nats-server: $(NATS_SERVER_VERSION)' || { \
		echo "installing nats-server $(NATS_SERVER_VERSION) into $(TOOLS_BIN)"; \
		GOBIN=$(TOOLS_BIN) $(GO) install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION); }

check-deploy: deploy-tools ## Prometheus rules and tests; compose; Kubernetes manifests and NATS configs (offline)
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts_test.yml
	docker-compose config -q
	$(TOOLS_BIN)/kustomize build deploy/kubernetes/base >/dev/null
	$(TOOLS_BIN)/kustomize build deploy/kubernetes/overlays/production >/dev/null
	TOOLS_BIN=$(TOOLS_BIN) $(GO) test -count=1 ./deploy/kubernetes/

bench: ## the whole pipeline under the load generator; writes bench/results.md and .json
	scripts/bench.sh
