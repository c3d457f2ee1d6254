#!/usr/bin/env bash
# genlab's main job on a fresh machine: set up, train a VAE on Fashion-MNIST for a few epochs,
# then write samples, reconstructions and the metrics of the run into runs/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
RUN=${RUN:-runs/quickstart}
EPOCHS=${EPOCHS:-3}
rm -rf "$RUN"
.venv/bin/genlab train --model vae --data fashion-mnist --epochs "$EPOCHS" --out "$RUN" --quiet
.venv/bin/genlab sample "$RUN" --n 64 --out "$RUN/samples.png"
.venv/bin/genlab reconstruct "$RUN" --out "$RUN/reconstructions.png"
echo "samples:          $RUN/samples.png"
echo "reconstructions:  $RUN/reconstructions.png"
echo "metrics:          $RUN/metrics.jsonl"
tail -n 1 "$RUN/metrics.jsonl"
