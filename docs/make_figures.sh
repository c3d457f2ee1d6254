#!/usr/bin/env bash
# Train the showcase runs on CPU and copy their grids into docs/ (the pictures in the README).
# Each command is the one a user would type; the lengths are bounded so the whole script fits
# in about an hour on 2 CPU cores (two streams: 'vae ae' and 'gan cgan edges maps cyclegan'). Usage: bash docs/make_figures.sh [NAME ...]  (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
G=.venv/bin/genlab
R=${RUNS:-runs}
mkdir -p "$R" docs
ALL="${*:-vae ae digits dsprites gan cgan edges maps cyclegan}"
t() { local s=$SECONDS; "$@"; echo "[$(( SECONDS - s )) s] $*" | tee -a "$R/figures.log"; }

if [[ " $ALL " == *" vae "* ]]; then
  rm -rf "$R/vae"; t $G train --model vae --data fashion-mnist --epochs 10 --out "$R/vae" --quiet
  t $G sample "$R/vae" --n 64 --out docs/vae_fashion_samples.png
  t $G reconstruct "$R/vae" --out docs/vae_fashion_reconstructions.png
fi
if [[ " $ALL " == *" ae "* ]]; then
  rm -rf "$R/ae"; t $G train --model ae --data fashion-mnist --epochs 10 --out "$R/ae" --quiet
  t $G sample "$R/ae" --n 64 --out docs/ae_fashion_samples.png
fi
if [[ " $ALL " == *" digits "* ]]; then
  rm -rf "$R/digits"; t $G train --model vae --data digits --epochs 200 --set arch=mlp --set latent_dim=8 --out "$R/digits" --quiet
  t $G sample "$R/digits" --n 64 --out docs/vae_digits_samples.png
fi
if [[ " $ALL " == *" dsprites "* ]]; then
  rm -rf "$R/dsprites"; t $G train --model vae --data dsprites --steps 1500 --set batch_size=64 --set latent_dim=10 --out "$R/dsprites" --quiet
  t $G sample "$R/dsprites" --n 64 --out docs/vae_dsprites_samples.png
  t $G reconstruct "$R/dsprites" --out docs/vae_dsprites_reconstructions.png
fi
if [[ " $ALL " == *" gan "* ]]; then
  rm -rf "$R/gan"; t $G train --model gan --data fashion-mnist --epochs 3 --out "$R/gan" --quiet
  t $G sample "$R/gan" --n 64 --out docs/dcgan_fashion_samples.png
fi
if [[ " $ALL " == *" cgan "* ]]; then
  rm -rf "$R/cgan"; t $G train --model cgan --data fashion-mnist --epochs 2 --out "$R/cgan" --quiet
  t $G sample "$R/cgan" --n 100 --nrow 10 --out docs/cgan_fashion_per_class.png   # column k = class k
fi
if [[ " $ALL " == *" edges "* ]]; then
  rm -rf "$R/edges"; t $G train --model pix2pix --data edges2fashion --steps 800 --set batch_size=16 --out "$R/edges" --quiet
  cp "$R/edges/samples/final.png" docs/pix2pix_edges2fashion.png   # rows: edges | output | garment
fi
if [[ " $ALL " == *" maps "* ]]; then
  rm -rf "$R/maps"; t $G train --model pix2pix --data maps --epochs 3 --set batch_size=8 --out "$R/maps" --quiet
  cp "$R/maps/samples/final.png" docs/pix2pix_maps_aerial_to_map.png   # rows: aerial | output | map
fi
if [[ " $ALL " == *" cyclegan "* ]]; then
  rm -rf "$R/cyclegan"; t $G train --model cyclegan --data fashion-stripes --steps 600 --set batch_size=4 --out "$R/cyclegan" --quiet
  cp "$R/cyclegan/samples/final.png" docs/cyclegan_fashion_stripes.png  # rows: A | A->B | A->B->A | B | B->A | B->A->B
fi
