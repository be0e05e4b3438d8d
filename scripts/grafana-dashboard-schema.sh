#!/usr/bin/env bash
# Regenerate tests/fixtures/grafana/dashboard-schema-42.json from Grafana's published TypeScript
# types (npm @grafana/schema, pinned), in a throwaway directory. See tests/fixtures/grafana/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error @grafana/schema@13.2.3 ts-json-schema-generator@2.4.0 typescript@5.9.3 >/dev/null
grep -q 'schemaVersion: 42,' node_modules/@grafana/schema/dist/esm/raw/dashboard/x/types.gen.mjs \
  || { echo "this @grafana/schema does not default to schemaVersion 42: rename the fixture" >&2; exit 1; }
npx ts-json-schema-generator --path node_modules/@grafana/schema/dist/types/raw/dashboard/x/types.gen.d.ts \
  --type Dashboard --no-type-check -o "$tmp/schema.json"
# Grafana's doc comments (descriptions only) carry typographic quotes; the collection's sanity test
# wants ASCII: translate them, nothing that validates changes.
python3 - "$tmp/schema.json" "$root/tests/fixtures/grafana/dashboard-schema-42.json" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
table = {0x2018: "'", 0x2019: "'", 0x201C: '\\"', 0x201D: '\\"'}
open(sys.argv[2], "w", encoding="utf-8").write(text.translate(table))
PY
sha256sum "$root/tests/fixtures/grafana/dashboard-schema-42.json"
