#!/usr/bin/env bash
# Make what benchmarks/gpu/run.sh carries to the device machine. Run it here, where PyPI and
# ../shared are, once per session that has the device tool:
#
#   bash benchmarks/gpu/prepare.sh
#
#   .whl/  the packages the codec's training path and the CUDA tests import that the machine lacks
#          (its list: /work/.library/device/KINDS.md), as wheels for its Python 3.12;
#   .gpu/  the training photos as JPEG and the four Kodak images the preset evaluates on
#          (../shared does not travel; benchmarks/gpu/pack_data.py says how and why JPEG).
# Both are ignored through .git/info/exclude and never committed. Prints the sizes (all that
# travels must stay under the tool's 64 MiB, the repository included) and the device call to make.
#
# Environment: PYTHON (.venv/bin/python), JPEG_QUALITY (90).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}

# Found by tracing the imports of a tiny `mllmsc train` run of the codec and of the CUDA tests:
# sionna-no-rt (mllmsc.channel imports it) and, of its needs, importlib-resources; the rest
# (torch, numpy, scipy, matplotlib, h5py, pillow, rich, typer, safetensors, scikit-image, pytest,
# huggingface-hub) is on the machine. diffusers and pillow-heif, missing there too, are imported
# only by the generative decoder and the HEIF baseline, not by codec training. Pinned to the
# versions this repository is tested with.
WHEELS=(sionna-no-rt==2.2.0 importlib-resources==7.1.0)
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64
  manylinux1_x86_64)
LIMIT_MIB=64   # the device tool's limit on the working tree that travels, carried paths included
MARGIN_MIB=8   # kept free: other work adds untracked files that travel too

exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
for p in /.whl/ /.gpu/; do
  grep -qxF "$p" "$exclude" 2>/dev/null || echo "$p" >>"$exclude"
done

echo "== wheels: ${WHEELS[*]}"
rm -rf .whl
mkdir .whl
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]/#/--platform=}" -d .whl "${WHEELS[@]}"
"$PYTHON" benchmarks/gpu/check_wheels.py .whl
# The machine's install, with Python 3.12's rules, into a clean folder.
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
"$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --only-binary=:all: \
  --python-version 3.12 --implementation cp "${PLATFORMS[@]/#/--platform=}" --target "$site" .whl/*.whl
echo "installs for Python 3.12 into a clean --target: $(cd "$site" && echo *)"

echo "== data"
"$PYTHON" benchmarks/gpu/pack_data.py --out .gpu --quality "${JPEG_QUALITY:-90}"

echo "== sizes"
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
whl=$(du -cb .whl | tail -1 | cut -f1)
gpu=$(du -cb .gpu | tail -1 | cut -f1)
# What travels besides: tracked files and untracked ones that git does not ignore.
tree=$(git ls-files -z -co --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
total=$((whl + gpu + tree))
ls -l .whl
echo "carried: .whl $(mib "$whl") MiB + .gpu $(mib "$gpu") MiB; the repository $(mib "$tree") MiB;" \
  "all that travels $(mib "$total") MiB of $LIMIT_MIB"
if [ "$total" -gt $(((LIMIT_MIB - MARGIN_MIB) * 1048576)) ]; then
  echo "too close to the limit: lower JPEG_QUALITY, or ignore what need not travel" >&2
  exit 1
fi

cat <<'EOF'
== the device call (one run, about 9 minutes; see BENCHMARKS.md "IA-JSCC on one GPU"):
  run(command="bash benchmarks/gpu/run.sh", carry=[".whl", ".gpu"], timeout_s=600)
Shorter (training stops earlier): command="GPU_DEADLINE_S=300 bash benchmarks/gpu/run.sh".
What comes back lies under files_at: run.log env.txt pytest.log log.csv train_config.json
weights/config.json weights/model.safetensors summary.json
EOF
