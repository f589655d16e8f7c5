#!/usr/bin/env bash
# Vendors the dashboard's chart library into the package, so the dashboard works offline.
# Run when upgrading it; the result is committed (hub/web/static/vendor/).
set -euo pipefail
cd "$(dirname "$0")/.."
CHARTJS_VERSION=${CHARTJS_VERSION:-4.6.1}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "chart.js@$CHARTJS_VERSION" >/dev/null && tar xzf chart.js-*.tgz)
install -m 0644 "$tmp/package/dist/chart.umd.min.js" hub/web/static/vendor/chart.umd.min.js
install -m 0644 "$tmp/package/LICENSE.md" hub/web/static/vendor/chart.js.LICENSE.md
echo "chart.js $CHARTJS_VERSION vendored into hub/web/static/vendor/"
