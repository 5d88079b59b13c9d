# The two commands that matter: `make run` and `make test`.
GO        ?= go
ADDR      ?= 127.0.0.1:8080
NEWMAN    := node_modules/.bin/newman
PKGS      := ./...
BENCHTIME ?= 2s
BENCHDUR  ?= 3s
SWEEPDUR  ?= 2s

.PHONY: run sandbox test unit vet fmt lint bench fuzz golden-update build token clean

run: ## Serve the facade on the embedded sandbox at http://$(ADDR)/fhir
	$(GO) run ./cmd/facade -addr $(ADDR)

sandbox: ## Run the backend simulators standalone
	$(GO) run ./cmd/sandbox

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/...

test: $(NEWMAN) vet ## Every test: unit, golden, end-to-end, conformance, Postman (newman)
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) test -count=1 $(PKGS)

unit:
	$(GO) test -short $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

lint: vet
	@command -v staticcheck >/dev/null && staticcheck $(PKGS) || echo "staticcheck not installed: go install honnef.co/go/tools/cmd/staticcheck@latest"

$(NEWMAN): package.json
	npm ci --no-audit --no-fund || npm install --no-audit --no-fund
	@touch $(NEWMAN)

bench: ## Go benchmarks, then the load report (tools/perf/bench.sh → docs/perf/, see docs/performance.md); about 6 minutes
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./server/ ./mappers/... ./profiles/
	$(GO) test -run '^$$' -bench 'FlagSearch|PatientSummary' -benchtime 50x ./tests/
	tools/perf/bench.sh $(BENCHDUR) $(SWEEPDUR)

FUZZTIME ?= 20s
fuzz: ## Every fuzz target in the repository, FUZZTIME each
	FUZZTIME=$(FUZZTIME) tools/fuzz.sh

ROLE ?= clinician
# make token asks the facade where make run serves it (ADDR, or the root of
# FACADE_BASE_URL when that is set), waiting up to 60s while it still compiles.
token: ## Print a dev token from the running facade's local issuer: make token ROLE=admin
	@FACADE_ADDR=$(ADDR) $(GO) run ./cmd/token -role $(ROLE)

golden-update:
	$(GO) test ./mappers/... -update

clean:
	rm -rf bin
