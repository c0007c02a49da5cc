#!/usr/bin/env bash
# Installs the deployment tools (cfn-lint, the SAM CLI, cargo-lambda) into the project-local
# virtualenv, once: a second run with unchanged requirements returns at once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/infra/aws/requirements.txt"

if [ -x "$VENV/bin/sam" ] && [ -x "$VENV/bin/cfn-lint" ] && [ -x "$VENV/bin/cargo-lambda" ] \
  && cmp -s "$REQ" "$VENV/.aws-requirements"; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
printf '[tools] installing cfn-lint, aws-sam-cli and cargo-lambda into %s\n' "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
cp "$REQ" "$VENV/.aws-requirements"
