#!/usr/bin/env bash
# genlab's main job on a fresh machine: set up, train a VAE on Fashion-MNIST for a few epochs,
# then write samples, reconstructions, the training metrics and an evaluation report into runs/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
RUN=${RUN:-runs/quickstart}
EPOCHS=${EPOCHS:-3}
rm -rf "$RUN"
.venv/bin/genlab train --model vae --data fashion-mnist --epochs "$EPOCHS" --out "$RUN" --quiet
.venv/bin/genlab sample "$RUN" --n 64 --out "$RUN/samples.png"
.venv/bin/genlab reconstruct "$RUN" --out "$RUN/reconstructions.png"
# ELBO, nll_iwae (k = 20), FID/KID/precision/recall, latent metrics: about 75 s on 2 cores
.venv/bin/genlab evaluate "$RUN" --out "$RUN/report.json" --iwae-k 20
echo "samples:          $RUN/samples.png"
echo "reconstructions:  $RUN/reconstructions.png"
echo "metrics:          $RUN/metrics.jsonl"
echo "report:           $RUN/report.json, $RUN/report.md"
tail -n 1 "$RUN/metrics.jsonl"
