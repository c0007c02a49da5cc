#!/usr/bin/env bash
# The browser tests: installs Debian's Chromium and ChromeDriver and playwright-core when
# missing, then runs browser.test.mjs against the ticketrush-local binary given as $1.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$1"

say() { printf '[browser-test] %s\n' "$*"; }

if ! command -v "${CHROMIUM:-/usr/bin/chromium}" >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    say "missing Chromium: apt-get install chromium chromium-driver (as root)"; exit 1
  fi
  say "installing chromium and chromium-driver"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
installed() { node -e 'const [a, b] = process.argv.slice(1).map((f) => require(f)); process.exit(a.packages["node_modules/playwright-core"].version === b.version ? 0 : 1)' \
  "$DIR/package-lock.json" "$DIR/node_modules/playwright-core/package.json" 2>/dev/null; }
if ! installed; then
  say "installing playwright-core (npm ci)"
  (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

psql -q -X -d "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS ${BROWSER_DATABASE_URL##*/} WITH (FORCE)"
export TICKETRUSH_LOCAL="$BIN"
cd "$DIR"
exec node --test --test-reporter=spec clock.test.mjs browser.test.mjs
