#!/bin/sh
# Prints the known line, then serves /app/www on port 8080 (busybox httpd) unless asked to stop there.
set -eu
echo "hello from daas: $(cat /app/greeting), built on Sui, stored on Walrus"
case "${1:-serve}" in
    once) exit 0 ;;
    serve) exec httpd -f -v -p "${PORT:-8080}" -h /app/www ;;
    *) echo "usage: hello.sh [serve|once]" >&2; exit 2 ;;
esac
