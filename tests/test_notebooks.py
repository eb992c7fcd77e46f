"""Run every chapter notebook at small smoke parameters with papermill, then validate it with nbval.

papermill injects the smoke parameters and executes the notebook top to bottom (any error fails
the test). nbval then re-executes the executed copy and compares the outputs of the cells marked
``# NBVAL_CHECK_OUTPUT``: with a fixed seed a chapter's numbers must come out the same twice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import papermill
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# Small runs that exercise every cell quickly (<= 60 s each on 2 CPU cores).
SMOKE_PARAMETERS = {
    "01_background": {"n_scenes": 2000, "epochs": 2, "assert_claims": False},
    "02_modalities": {"n_scenes": 1500, "n_sounds": 400, "n_clips": 240, "epochs": 1, "audio_epochs": 1, "n_seeds": 2, "assert_claims": False},
    "03_alignment": {"n_scenes": 1500, "epochs": 1, "temperatures": [0.03, 0.1, 0.3], "n_seeds": 2, "assert_claims": False},
    "04_fusion": {"n_questions": 3000, "epochs": 1, "pretrain_epochs": 1, "n_seeds": 2, "assert_claims": False},
    "05_multimodal_knowledge": {"n_questions": 1200, "qa_epochs": 1, "n_scenes": 1500, "epochs": 1, "n_test": 300, "n_seeds": 2, "assert_claims": False},
    "06_framework": {"n_scenes": 600, "epochs": 1, "feature_epochs": 2, "n_seeds": 2, "pretrained_image_size": 64, "assert_claims": False},
    "07_more_modalities": {"epochs": 2, "n_clips": 300, "video_epochs": 1, "fusion_epochs": 1, "n_seeds": 2, "assert_claims": False},
    "08_weak_pairs_and_generation": {"n_scenes": 600, "noise_levels": [0.0, 0.2, 0.4], "epochs": 1, "n_generation": 600, "vae_epochs": 1, "gan_steps": 16,
                                     "classifier_epochs": 1, "n_seeds": 2, "assert_claims": False},
    "09_modality_differences": {"n_clips": 600, "epochs": 2, "n_seeds": 1, "scaling_lengths": [32, 128], "assert_claims": False},
    "10_evaluation": {"n_shape_scenes": 2000, "classifier_epochs": 1, "n_balanced_test": 300, "n_seed_scenes": 800, "seed_epochs": 1,
                      "n_seeds": 2, "n_scenes": 1500, "epochs": 1, "n_gallery": 200, "noise_levels": [0.0, 0.2], "drop_rates": [0.0, 0.5],
                      "assert_claims": False},
    "11_real_emoji": {"image_size": 64, "epochs": 2, "finetune_epochs": 1, "n_finetune_seeds": 2, "folder_size": 120, "n_seeds": 2,
                      "assert_claims": False},
    "12_scaling": {"n_scenes": 600, "epochs": 1, "batch_sizes": [8, 16, 32], "long_run_batch_size": 32, "long_run_epochs": 2, "n_seeds": 2,
                   "ddp_scenes": 200, "ddp_epochs": 1, "ddp_batch_size": 16, "assert_claims": False},
}


def test_every_notebook_has_smoke_parameters():
    assert {path.stem for path in NOTEBOOKS} == set(SMOKE_PARAMETERS)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_and_validates(notebook: Path, tmp_path: Path):
    executed = tmp_path / notebook.name
    papermill.execute_notebook(
        str(notebook), str(executed), parameters=SMOKE_PARAMETERS[notebook.stem],
        kernel_name="python3", cwd=str(notebook.parent), progress_bar=False,
    )
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{notebook.name} raised: {errors[0]['ename']}: {errors[0]['evalue']}"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", str(executed)],
        cwd=notebook.parent, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"nbval failed for {notebook.name}:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
