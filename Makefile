# ticketrush: `make dev` runs the whole system locally with sample data; `make test` runs every test.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

# Local defaults; set any of them in the environment to override.
# PostgreSQL's loopback port: one already there is used, else the services script starts a
# private cluster on it.
export PG_PORT ?= 5432
export DATABASE_URL ?= postgres://postgres@127.0.0.1:$(PG_PORT)/ticketrush
export REDIS_URL ?= redis://127.0.0.1:6379/0
export AWS_ENDPOINT_URL ?= http://127.0.0.1:4566
# The AWS emulator at AWS_ENDPOINT_URL: ministack (default) or moto.
export AWS_EMULATOR ?= ministack
export AWS_REGION ?= us-east-1
export AWS_ACCESS_KEY_ID ?= local
export AWS_SECRET_ACCESS_KEY ?= local
export JWT_SECRET ?= local-dev-secret-not-for-production
export QUEUE_TOKEN_SECRET ?= local-dev-queue-token-secret-not-for-production
export PAYMENT_WEBHOOK_SECRET ?= local-dev-payment-webhook-secret-not-for-production
# The stand-in gateway that charges nobody: local runs and tests only, never a default.
export PAYMENT_GATEWAY ?= sandbox
export TICKETRUSH_BIND ?= 127.0.0.1:8080
# Tests get their own database (a schema per test inside it) and their own Redis database.
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:$(PG_PORT)/ticketrush_test
export TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PG_ADMIN_URL ?= postgres://postgres@127.0.0.1:$(PG_PORT)/postgres

CARGO ?= cargo
# Where cargo puts binaries (honours CARGO_TARGET_DIR).
TARGET_DIR = $(shell $(CARGO) metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

.PHONY: dev test services fresh-services lint unit-and-integration test-db
.DEFAULT_GOAL := dev

services:
	bash infra/local/scripts/services.sh

# The same, with the emulator emptied: every test and bench run starts from a fresh state.
fresh-services:
	bash infra/local/scripts/services.sh --reset-emulator

dev: services
	$(CARGO) build -p ticketrush-local
	$(CARGO) run -q -p ticketrush-local -- setup --samples samples/catalog.json
	$(CARGO) run -q -p ticketrush-local -- serve

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

test-db:
	psql -q -X -d "$(PG_ADMIN_URL)" -c 'DROP DATABASE IF EXISTS $(notdir $(TEST_DATABASE_URL)) WITH (FORCE)' -c 'CREATE DATABASE $(notdir $(TEST_DATABASE_URL))'
	bash infra/local/scripts/flush-test-redis.sh

test: fresh-services lint test-db template-check
	$(CARGO) build --workspace --all-targets --locked
	DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" $(CARGO) run -q -p ticketrush-local -- setup
	$(MAKE) --no-print-directory boot-check
	$(CARGO) check -q -p ticketrush-testkit --features localstack --tests --locked
	$(CARGO) nextest run --workspace --no-fail-fast -E 'not (package(ticketrush-testkit) and binary(boot))'
	bash tests/browser/run.sh "$(TARGET_DIR)/debug/ticketrush-local"
	bash tests/fuzz/run.sh "$(TARGET_DIR)/debug/ticketrush-local"

# Load scenarios against a release ticketrush-local, each beside its raw-store baseline.
SCENARIO ?= all
export BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:$(PG_PORT)/ticketrush_bench
export BENCH_REDIS_URL ?= redis://127.0.0.1:6379/14
.PHONY: bench
# SCENARIO is `all` or a comma list. cold-start boots every function binary, so those are
# built too when it runs. One cargo call for all of them: built apart, the load generator
# would unify features differently and compile the AWS SDK a second time.
FUNCTION_PACKAGES := $(foreach f,$(wildcard functions/*/Cargo.toml),-p $(notdir $(patsubst %/,%,$(dir $(f)))))
comma := ,
BENCH_COLD_START := $(filter all cold-start,$(subst $(comma), ,$(SCENARIO)))
BENCH_PROFILE := bench-release
bench: fresh-services
	$(CARGO) build --profile $(BENCH_PROFILE) --locked -p ticketrush-local -p ticketrush-bench $(if $(BENCH_COLD_START),$(FUNCTION_PACKAGES),)
	@# Every run starts from the same state: a new database and an empty Redis database.
	psql -q -X -d "$(PG_ADMIN_URL)" -c 'DROP DATABASE IF EXISTS $(notdir $(BENCH_DATABASE_URL)) WITH (FORCE)' -c 'CREATE DATABASE $(notdir $(BENCH_DATABASE_URL))'
	TEST_REDIS_URL="$(BENCH_REDIS_URL)" bash infra/local/scripts/flush-test-redis.sh
	bin="$(TARGET_DIR)/$(BENCH_PROFILE)"; \
	export DATABASE_URL="$(BENCH_DATABASE_URL)" REDIS_URL="$(BENCH_REDIS_URL)"; \
	"$$bin/ticketrush-local" setup --samples samples/catalog.json && \
	"$$bin/ticketrush-bench" --server "$$bin/ticketrush-local" --scenario $(SCENARIO)

# A dev token the local authorizer accepts: make -s token BUYER=buyer-gold TIER=GOLD [ADMIN=1]
BUYER ?= buyer-basic
TIER ?= BASIC
.PHONY: token
token:
	@$(CARGO) run -q -p ticketrush-local -- token --user "$(BUYER)" --tier "$(TIER)" $(if $(ADMIN),--admin,)

# AWS: the SAM template checked offline (cfn-lint, sam validate, cfn-lint of the translated
# output), tools from PyPI in .venv.
VENV := .venv/bin
export SAM_CLI_TELEMETRY := 0
.PHONY: aws-tools template-check
aws-tools:
	bash infra/aws/scripts/tools.sh

template-check: aws-tools
	$(VENV)/cfn-lint infra/aws/template.yaml
	cd infra/aws && ../../$(VENV)/sam validate --region us-east-1 --template template.yaml
	mkdir -p target/aws
	$(VENV)/python infra/aws/scripts/translate.py infra/aws/template.yaml >target/aws/translated.yaml
	$(VENV)/cfn-lint target/aws/translated.yaml
	@echo "template-check: infra/aws/template.yaml is valid"

# Every function binary booted under our Lambda Runtime API stand-in, answering its events/
# sample; prints init time and idle RSS. package-check builds the binaries first.
.PHONY: boot-check package-check package deploy
# Selected from the workspace build rather than with -p, which would rebuild dependencies
# under other features.
boot-check:
	$(CARGO) nextest run --workspace --no-fail-fast --no-capture -E 'package(ticketrush-testkit) and binary(boot)'

package-check: services
	$(CARGO) build --workspace --bins --locked
	$(MAKE) --no-print-directory boot-check

# One arm64 Lambda zip (bootstrap inside) per function in dist/lambda/<name>/bootstrap.zip.
LAMBDA_FUNCTIONS := $(patsubst functions/%/Cargo.toml,%,$(wildcard functions/*/Cargo.toml))
# A build directory of its own, so packaging never waits on the lock of a dev or test build.
PACKAGE_TARGET_DIR ?= $(CURDIR)/target/package
package: aws-tools
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/.venv/bin:$$PATH" CARGO_TARGET_DIR="$(PACKAGE_TARGET_DIR)" \
	  $(CARGO) lambda build --release --arm64 --output-format zip --lambda-dir dist/lambda \
	  $(foreach f,$(LAMBDA_FUNCTIONS),--bin $(f))
	@ls -l dist/lambda/*/bootstrap.zip

# sam build (cargo-lambda, arm64) and deploy; the first run asks for the parameters and
# saves them in infra/aws/samconfig.toml.
deploy: aws-tools
	rustup target add aarch64-unknown-linux-gnu
	cd infra/aws && PATH="$(CURDIR)/.venv/bin:$$PATH" sam build --beta-features
	cd infra/aws && if [ -f samconfig.toml ]; then PATH="$(CURDIR)/.venv/bin:$$PATH" sam deploy; \
	  else PATH="$(CURDIR)/.venv/bin:$$PATH" sam deploy --guided --capabilities CAPABILITY_IAM; fi

# The web client in headless Chromium against ticketrush-local in each realtime mode, over the
# sample catalog in its own database (dropped and reloaded each run). Screenshots: target/browser/.
export BROWSER_DATABASE_URL ?= postgres://postgres@127.0.0.1:$(PG_PORT)/ticketrush_browser
export BROWSER_REDIS_URL ?= $(TEST_REDIS_URL)
export PG_ADMIN_URL
.PHONY: browser-test
browser-test: services
	$(CARGO) build -p ticketrush-local
	bash tests/browser/run.sh "$(TARGET_DIR)/debug/ticketrush-local"
