#!/usr/bin/env bash
# The seed walkthrough, step by step, against a running `isola serve` (scripts/setup --serve starts one):
# a PER_TENANT function created with the aws CLI, the missing-tenant error, an invoke with --tenant-id,
# a gateway route, the seed's loop of 20 tenants through it, one platform.initStart per tenant, and the cost.
#
#   examples/tenant-isolation/run.sh
#   ENDPOINT=http://127.0.0.1:9000 GATEWAY=http://127.0.0.1:9080 FUNCTION=tenant-demo examples/tenant-isolation/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
ENDPOINT="${ENDPOINT:-http://127.0.0.1:9000}"
GATEWAY="${GATEWAY:-http://127.0.0.1:9080}"
FUNCTION="${FUNCTION:-tenant-demo}"
AWS="${AWS:-$(command -v aws || echo "$root/.venv/bin/aws")}"
ISOLA="${ISOLA:-$(command -v isola || echo "$root/.build/debug/isola")}"
# Any key pair works against a server started without --credentials (loopback only).
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-isola}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-isola}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" AWS_PAGER=""
aws() { "$AWS" --endpoint-url "$ENDPOINT" "$@"; }
step() { printf '\n== %s\n' "$*"; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$here" && zip -q "$work/function.zip" lambda_function.py)

step "1. Create $FUNCTION with tenant isolation (it can only be chosen now, never switched later)"
aws lambda create-function --function-name "$FUNCTION" --runtime python3.12 --handler lambda_function.lambda_handler \
  --role arn:aws:iam::000000000000:role/lambda-role --zip-file "fileb://$work/function.zip" \
  --tenancy-config TenantIsolationMode=PER_TENANT --logging-config LogFormat=JSON \
  --query '{FunctionName: FunctionName, TenancyConfig: TenancyConfig}' --output json

step "2. Invoke without a tenant ID"
if aws lambda invoke --function-name "$FUNCTION" "$work/out.json" 2>"$work/error.txt"; then
  echo "unexpected: the invoke without a tenant ID succeeded" >&2; exit 1
fi
cat "$work/error.txt"

step "3. Invoke with --tenant-id 1"
aws lambda invoke --function-name "$FUNCTION" --tenant-id 1 "$work/out.json" --output json
cat "$work/out.json"; echo

step "4. Put the gateway in front: no header mapping to write"
"$ISOLA" create-route --endpoint "$ENDPOINT" --route-key "ANY /dev" --function-name "$FUNCTION"

step "5. The seed's loop: 20 tenants through the gateway"
for i in {1..20}; do curl -s "$GATEWAY/dev" -H "X-Tenant-ID: $i"; echo ""; done

step "6. One environment per tenant: platform.initStart in the function's logs"
sleep 1  # log events are written in batches, a few times a second
count=$(aws logs filter-log-events --log-group-name "/aws/lambda/$FUNCTION" --filter-pattern platform.initStart --query 'length(events)' --output text)
starts=$(aws logs filter-log-events --log-group-name "/aws/lambda/$FUNCTION" --filter-pattern '{ $.type = "platform.start" }' --query 'events[].logStreamName' --output text | tr '\t' '\n' | sort -u | wc -l)
echo "platform.initStart events: $count (one per environment: the 20 tenants' own, and any prewarmed one still waiting)"
echo "streams that served a tenant: $starts (each stream is one environment, and holds one tenant)"

step "7. What each tenant cost"
"$ISOLA" usage --endpoint "$ENDPOINT" --function-name "$FUNCTION"
