#!/usr/bin/env bash
# One short GPU check: time resnet50 on CUDA (float32, float16, bfloat16) and
# verify the engine against it there, saved bytes by autograd's hooks and by
# torch.cuda.memory_allocated; then the engine's model of CUDA's autocast lists
# (mixed precision) and of checkpointing, on the network and on ViT-B/16 (whose
# layer norms and softmax CUDA's autocast runs in float32). Prints the numbers;
# exits 1 if verify finds a mismatch. Needs a CUDA build of torch and archcalc installed:
#     bash benchmarks/gpu_check.sh [NET] [BATCH]
set -euo pipefail
net="${1:-resnet50}"
batch="${2:-8}"
python -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print(torch.__version__, torch.cuda.get_device_name())'
archcalc bench "$net" --device cuda --batch 1 --runs 20
archcalc bench "$net" --device cuda --batch "$batch" --runs 20
archcalc bench "$net" --device cuda --batch "$batch" --runs 20 --dtype float16 --channels-last
archcalc bench "$net" --device cuda --batch "$batch" --runs 20 --dtype bfloat16 --channels-last
archcalc bench "$net" --device cuda --batch 1 --runs 5 --per-layer | tail -n 25
archcalc verify "$net" --device cuda --batch 1 --batch "$batch" --real-limit 1T
archcalc verify "$net" --device cuda --batch 1 --batch "$batch" --real-limit 1T --precision amp-bf16
archcalc verify vit-b16 --device cuda --batch 1 --batch "$batch" --real-limit 1T --precision amp-fp16 --checkpoint every-block
