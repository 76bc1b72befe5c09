"One parameter vocabulary across the paper notebooks: `-p key value` means the same thing in every paper."
import pytest

from conftest import ROOT

from repl_nb.registry import notebook_parameters

# a synonym -> the vocabulary's name for it (README, "Add a paper")
SYNONYMS = {"arch": "model", "model_name": "model", "net": "model", "network": "model", "backbone": "model",
            "save_png": "png", "png_figures": "png", "n_steps": "steps", "num_steps": "steps", "train_steps": "steps",
            "learning_rate": "lr", "bs": "batch_size", "batch": "batch_size", "wd": "weight_decay", "threads": "cpu_threads",
            "n_threads": "cpu_threads", "num_threads": "cpu_threads", "random_seed": "seed", "data": "dataset",
            "dataset_name": "dataset", "data_name": "dataset", "output_dir": "out_dir", "run_dir": "out_dir",
            "n_hidden": "width", "n_layers": "depth", "num_layers": "depth"}
NOTEBOOKS = sorted((ROOT / "nbs" / "papers").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_paper_parameters_use_the_shared_vocabulary(notebook):
    synonyms = {k: SYNONYMS[k] for k in notebook_parameters(notebook) if k in SYNONYMS}
    assert not synonyms, f"{notebook.name} declares {synonyms}: rename to the shared vocabulary (README, 'Add a paper')"
