#!/usr/bin/env bash
# One call of the device tool: the CUDA tests, then a timed IA-JSCC training run on the GPU.
#
#   bash benchmarks/gpu/run.sh              # there, with .whl and .gpu carried (prepare.sh makes both)
#   bash benchmarks/gpu/run.sh --cpu-tiny   # anywhere: the same stages on the CPU, in seconds
#
# Stages, each logged with its exit status. A failed stage does not stop the later ones, so what
# they write still comes back:
#   install  the carried wheels (.whl) into $WORK/site; src/ goes on PYTHONPATH too (mllmsc is
#            not installed there, and the machine has no PyPI)
#   env      torch / CUDA / GPU facts, a cuDNN convolution, the carried imports  -> $OUT/env.txt
#   tests    the CUDA tests                                                       -> $OUT/pytest.log
#   train    continue the shipped codec until the deadline (benchmarks/gpu/codec_run.py says how)
#   finish   export the EMA weights, copy the outputs, write summary.json
# $OUT gets 8 files, as many as the device tool brings back: run.log, env.txt, pytest.log, log.csv,
# train_config.json, weights/config.json, weights/model.safetensors, summary.json.
#
# Environment: OUT (default: a new temp folder), WORK (checkpoints, data; a new temp folder),
# PYTHON (.venv/bin/python where there is one, else python3), WHL_DIR (.whl), GPU_DEADLINE_S (540:
# training stops in time for the whole script to end by then), GPU_SET (space-separated key=value
# overrides of the training preset, e.g. "batch=128 lr=3e-4").
set -u
cd "$(dirname "$0")/../.." || exit 2

mode=gpu
case "${1:-}" in
  "") ;;
  --cpu-tiny) mode=cpu-tiny ;;
  *) echo "usage: bash benchmarks/gpu/run.sh [--cpu-tiny]" >&2; exit 2 ;;
esac
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
OUT=${OUT:-$(mktemp -d /tmp/gpu-out.XXXXXX)}
WORK=${WORK:-$(mktemp -d /tmp/gpu-work.XXXXXX)}
WHL_DIR=${WHL_DIR:-.whl}
mkdir -p "$OUT" "$WORK" || exit 2
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
deadline=${GPU_DEADLINE_S:-540}
# Seconds kept after the trainer's own time limit: its start-up (imports, model, data) and last
# checkpoint, then the finish stage (export, two evaluations on the GPU).
reserve=75
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

stage() {  # stage NAME FUNCTION: run it, log its time and exit status, go on whatever it returns
  local name=$1 start=$SECONDS rc
  echo "=== $name: start at ${SECONDS}s"
  "$2"
  rc=$?
  echo "=== $name: exit $rc after $((SECONDS - start))s"
  stages+=("$name=$rc")
}

install_wheels() {
  local wheels=("$WHL_DIR"/*.whl)
  if [ ! -e "${wheels[0]}" ]; then
    echo "no wheels in $WHL_DIR"
    [ "$mode" = gpu ] && { echo "run benchmarks/gpu/prepare.sh where PyPI is, and carry .whl"; return 1; }
    return 0  # the CPU rehearsal runs where the packages are installed
  fi
  # The device README's recipe: no index, no dependencies (prepare.sh names each missing one).
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$WORK/site" "${wheels[@]}" || return
  export PYTHONPATH="$WORK/site:$PYTHONPATH"
  echo "installed into $WORK/site: ${wheels[*]##*/}"
}

env_info() {
  local rc need=()
  [ "$mode" = gpu ] && need=(--need-cuda)
  "$PYTHON" benchmarks/gpu/codec_run.py env ${need[@]+"${need[@]}"} >"$OUT/env.txt" 2>&1
  rc=$?
  if command -v nvidia-smi >/dev/null; then nvidia-smi >>"$OUT/env.txt" 2>&1; fi
  cat "$OUT/env.txt"
  return $rc
}

cuda_tests() {
  # Only the CUDA tests (they skip without a GPU): the rest of the suite runs in CI, and other test
  # modules import packages (the service's) that the device machine lacks.
  # -q comes from pyproject's addopts; a second -q would hide the closing "N passed" line.
  local rc
  timeout -k 10 "${GPU_TEST_TIMEOUT_S:-180}" "$PYTHON" -m pytest -x -rs -p no:cacheprovider \
    tests/train/test_trainer.py -k cuda >"$OUT/pytest.log" 2>&1
  rc=$?
  tail -n 20 "$OUT/pytest.log"
  return $rc
}

train() {
  local left minutes
  if [ "$mode" = gpu ]; then
    left=$((deadline - SECONDS - reserve))
    [ "$left" -lt 60 ] && left=60
  else
    left=120  # the rehearsal stops at its step count; this only bounds a hang
  fi
  minutes=$(awk -v s="$left" 'BEGIN { printf "%.2f", s / 60 }')
  echo "training for at most $minutes min (max_minutes)"
  # A hard stop a minute after the trainer's own: its SIGTERM handler checkpoints and stops.
  # GPU_SET is split on spaces on purpose (one override per word).
  # shellcheck disable=SC2086
  timeout -k 30 $((left + 60)) "$PYTHON" benchmarks/gpu/codec_run.py train --mode "$mode" --work "$WORK" \
    --minutes "$minutes" ${GPU_SET:-}
}

finish() {
  timeout -k 10 180 "$PYTHON" benchmarks/gpu/codec_run.py finish --mode "$mode" --work "$WORK" --out "$OUT" \
    --stages "${stages[@]}"
}

main() {
  local stages=() s
  echo "run.sh $mode: OUT=$OUT WORK=$WORK PYTHON=$PYTHON deadline ${deadline}s, $(date -u +%FT%TZ)"
  stage install install_wheels
  stage env env_info
  stage tests cuda_tests
  stage train train
  stage finish finish
  echo "stages: ${stages[*]}; outputs in $OUT:"
  (cd "$OUT" && find . -type f | sort | xargs ls -l)
  for s in "${stages[@]}"; do [ "${s#*=}" = 0 ] || return 1; done
}

main 2>&1 | tee -a "$OUT/run.log"
exit "${PIPESTATUS[0]}"
