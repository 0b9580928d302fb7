# cynod switch — developer entry points. Every target runs from a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help
NODE_MODULES := node_modules/.package-lock.json

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(NODE_MODULES): package-lock.json
	npm ci
	@touch $@

install: $(NODE_MODULES) ## Install dependencies (npm ci)

build: $(NODE_MODULES) ## Compile TypeScript to dist/
	@rm -rf dist
	npx tsc -p .
	@chmod +x dist/terminal-sim/cli.js

lint: $(NODE_MODULES) ## eslint + type-check
	npx eslint .
	npx tsc -p . --noEmit

services: ## Start PostgreSQL and Redis if they are installed but stopped; say what is missing otherwise
	@bash .ci/services

test: lint build services ## Lint, type-check and run every test; ends with "N passed, N failed"
	@mkdir -p .tap
	@rm -f .tap/last-run.tap
	npx tap --reporter=tap "dist/test/**/*.test.js" | TAP_LOG=.tap/last-run.tap node .ci/tap-summary.mjs

fuzz: build ## Property tests only, long: FUZZ_RUNS=1000000 make fuzz
	FUZZ_RUNS=$${FUZZ_RUNS:-200000} npx tap --reporter=tap --timeout=0 dist/test/protocol/fuzz.test.js | node .ci/tap-summary.mjs

soak: build ## Long runs: PostgreSQL and Redis stopped and started under load, long fuzzing, the ledger model (run alone: it stops the servers)
	@mkdir -p .tap
	FUZZ_RUNS=$${FUZZ_RUNS:-200000} TCP_FUZZ_RUNS=$${TCP_FUZZ_RUNS:-3000} LEDGER_MODEL_RUNS=$${LEDGER_MODEL_RUNS:-5000} \
	  npx tap --reporter=tap --timeout=0 --jobs=1 \
	  "dist/test/**/*.soak.js" dist/test/protocol/fuzz.test.js dist/test/hostile/corpus.test.js dist/test/faults/process.test.js \
	  dist/test/db/ledger-model.test.js \
	  | TAP_LOG=.tap/soak.tap node .ci/tap-summary.mjs

bench-codec: build ## Codec benchmark: ours vs iso_8583, decode and encode
	node --enable-source-maps dist/bench/codec.js

bench-security: build ## MAC and PIN cost per message: retail MAC and AES-CMAC sign/verify, PIN block made and read (one core)
	node --enable-source-maps dist/bench/security.js

bench-ledger: build ## Ledger benchmark: the posting alone (Ledger.post), cost per batch and per item; then its batcher at fixed rates
	node --enable-source-maps dist/bench/ledger.js

bench-ledger-transports: build ## The ledger's two rounds over three clients (its own wire protocol, pg's pipeline mode, the postgres package): cost per batch
	node --enable-source-maps dist/bench/ledger-transports.js

bench-pg-instructions: build ## PostgreSQL's instructions per ledger batch and item, counted by callgrind on a cluster of its own (needs valgrind; BENCH_PG_SIZES)
	node --enable-source-maps dist/bench/pg-instructions.js

bench-cpu: build ## CPU pause probe: 1 ms of work every 5 ms, how often the machine pauses it (BENCH_CPU_SECONDS)
	node --enable-source-maps dist/bench/probes/cpu-pause.js

bench-disk: build ## Disk flush probe: 8 kB + fdatasync on PostgreSQL's disk, percentiles and stalls (BENCH_DISK_SECONDS, BENCH_DISK_DIR)
	node --enable-source-maps dist/bench/probes/disk-flush.js

migrate: build ## Apply the SQL migrations to DB_SCHEMA (default cynod)
	node --enable-source-maps dist/backoffice/cli.js migrate

seed: build ## Demo data: ELTON, PS_SENOSOFT, cards (SEED_ARGS="--reset --cards 10000 --service-points 100 ...")
	node --enable-source-maps dist/backoffice/cli.js seed $(SEED_ARGS)

ledger-check: build ## Prove double entry and the ledger's rules, each a named check (exit 1 when one fails)
	node --enable-source-maps dist/backoffice/cli.js ledger-check

backoffice: build ## Run the back-office HTTP API (BACKOFFICE_HOST, BACKOFFICE_PORT, default 127.0.0.1:8080)
	node --enable-source-maps dist/backoffice/main.js

bench: build ## End-to-end benchmark: ceiling, unbatched ledger, the switch; 10,000 idle connections (several minutes)
	node --enable-source-maps dist/bench/switch.js

docs: build ## Regenerate docs/messages.md from the code's tables and codec
	node dist/tools/message-reference.js > docs/messages.md

start: build ## Run the switch alone, configured by the environment (see README: configuration)
	node --enable-source-maps dist/switch/main.js

demo: build ## The switch and back office with demo data, 10 s of simulated load, then serving until Ctrl-C
	node --enable-source-maps dist/tools/demo.js

demo-reset: build ## Drop the demo data (embedded .demo/pgdata, or DB_SCHEMA and its cache keys) so the next make demo starts over (a schema holding data the demo did not make only with RESET_ARGS=--yes)
	node dist/tools/demo.js --reset $(RESET_ARGS)

clean: ## Remove build output
	rm -rf dist .tap

.PHONY: help install build lint services test fuzz soak bench-codec bench-security bench-ledger bench-cpu bench-disk bench docs migrate seed ledger-check backoffice start demo demo-reset clean
