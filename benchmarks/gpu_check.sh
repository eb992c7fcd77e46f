#!/usr/bin/env bash
# GPU checks for a machine with CUDA and PyTorch but no Jupyter (see README, "Where a GPU is used").
#   bash benchmarks/gpu_check.sh
# 1. chapter 1 at default parameters on the GPU (device="auto"), as a script;
# 2. the unit tests on that machine (notebook tests need Jupyter and are left out).
set -uo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
echo "== chapter 1 at default parameters"
python3 benchmarks/run_notebook_as_script.py notebooks/01_background.ipynb 2>&1 | tr '\r' '\n' | grep -v "^training:" | grep -v "^\s*$"
echo "== unit tests"
python3 -m pytest -q -p no:cacheprovider tests --ignore tests/test_notebooks.py --ignore tests/test_conventions.py 2>&1 | tail -8
