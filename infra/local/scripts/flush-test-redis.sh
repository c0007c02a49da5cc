#!/usr/bin/env bash
# Empties the Redis database that tests (or, given its URL, the bench) use; never database 0, the dev one.
set -euo pipefail
url="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
db="${url##*/}"
hostport="${url#redis://}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"
if [ "$db" = 0 ] || [ "$db" = "$url" ]; then echo "refusing to flush Redis database 0"; exit 1; fi
exec 3<>"/dev/tcp/$host/$port"
printf 'SELECT %s\r\nFLUSHDB\r\n' "$db" >&3
read -r -t 2 a <&3; read -r -t 2 b <&3
exec 3>&-
[[ "$a" == +OK* && "$b" == +OK* ]] || { echo "flushing test Redis failed: $a $b"; exit 1; }
