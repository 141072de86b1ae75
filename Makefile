# guestinject: `make test` is what CI runs; `make bench` measures.
GO            ?= go
STATICCHECK   ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME      ?= 5s
LONG_FUZZTIME ?= 1m
PKGS          := ./...

.PHONY: all demo test deps kernel lint fmt-check vet staticcheck generate generate-check unit fuzz fuzz-long bench

all: test

## demo: build a sample guest image, check it and inject into it through the appliance
demo:
	./scripts/demo.sh

## test: everything CI checks: formatting, vet, staticcheck, generated code, race-enabled tests, short fuzz runs
test: deps kernel lint generate-check unit fuzz

## deps: install the system packages the tests need (Debian/Ubuntu, idempotent)
deps:
	./scripts/install-deps.sh

## kernel: build the appliance's own kernel into the cache (once; about 10 min on 2 cores),
## which boots in half the time of a distribution's; the appliance uses it when present
kernel: deps
	./scripts/build-kernel.sh

## lint: gofmt, go vet and staticcheck
lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(STATICCHECK) $(PKGS)

## generate: regenerate generated code (the gomock mock of vfs.FS)
generate:
	$(GO) generate $(PKGS)

## generate-check: fail when generated code is out of date
generate-check:
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	cp vfs/vfsmock/vfsmock.go $$tmp/ && $(GO) generate ./vfs/ && \
	if ! cmp -s $$tmp/vfsmock.go vfs/vfsmock/vfsmock.go; then \
		cp $$tmp/vfsmock.go vfs/vfsmock/vfsmock.go; \
		echo "vfs/vfsmock/vfsmock.go is out of date: run make generate"; exit 1; fi

# One package at a time: the emulated VMs of the appliance tests get the CPU.
unit:
	$(GO) test -race -count=1 -p 1 -timeout 45m $(PKGS)

## fuzz: run every fuzz target briefly (FUZZTIME, default 5s)
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

## fuzz-long: imagecheck's header mutator over every field of every base image
## (GUESTINJECT_MUTATE=long; `make test` runs a sample of it, whose seed
## GUESTINJECT_MUTATE_SEED changes), then every fuzz target for LONG_FUZZTIME
fuzz-long:
	GUESTINJECT_MUTATE=long $(GO) test -count=1 -timeout 60m -run '^TestHeaderMutations$$' -v ./imagecheck/
	FUZZTIME=$(LONG_FUZZTIME) ./scripts/fuzz.sh

## bench: run every benchmark and rewrite the generated tables of BENCHMARKS.md
bench: kernel
	./scripts/bench.sh
