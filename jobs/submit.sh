#!/usr/bin/env bash
# Submit a pipeline as a Ray job: jobs/submit.sh PIPELINE.yaml OUTPUT [--set KEY=VALUE ...]
# RAY_ADDRESS must point at the cluster's dashboard (http://HEAD:8265).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: RAY_ADDRESS=http://HEAD:8265 $0 PIPELINE.yaml OUTPUT [--set KEY=VALUE ...]" >&2
  exit 2
fi
pipeline=$1; output=$2; shift 2
cd "$(dirname "$0")/.."
exec ray job submit --runtime-env jobs/runtime_env.yaml -- \
  python -m dataengine run "$pipeline" --output "$output" --address auto "$@"
