"""The old import paths keep working: each re-export module hands out the very objects of the new home.

Notebooks 02, 08, 09 and 10 import ``vae_course.elbo_panel``, ``deep_vae``, ``autoregressive``, ``cvae`` and
``cvae_widgets``; notebook 09 calls ``collapse.kl_weight`` and prints ``train._free_bits_terms``.
"""
import importlib

import pytest

MOVED = [
    ("vae_course.cvae", "vae_course.models.cvae", ["CVAE", "CVAEConfig", "digit_style_grid", "label_codes", "one_hot"]),
    ("vae_course.autoregressive", "vae_course.models.autoregressive",
     ["AutoregressiveVAE", "AutoregressiveVAEConfig", "MaskedLinear", "causal_neighbours", "causal_offsets",
      "made_masks"]),
    ("vae_course.deep_vae", "vae_course.models.deep", ["ACTIVATIONS", "DeepVAE", "DeepVAEConfig"]),
    ("vae_course.elbo_panel", "vae_course.widgets.elbo_panel",
     ["ELBOPanel", "draw_densities", "panel_numbers", "plot_elbo_landscape"]),
    ("vae_course.cvae_widgets", "vae_course.widgets.cvae_explorer", ["CVAEExplorer", "cvae_explorer"]),
    ("vae_course.collapse", "vae_course.objective", ["kl_weight"]),
    ("vae_course.train", "vae_course.objective", ["kl_weight", "_free_bits_terms"]),
    ("vae_course.models", "vae_course.models.mlp", ["VAE", "VAEConfig"]),
    ("vae_course.models", "vae_course.models.conv", ["ConvVAE", "ConvVAEConfig"]),
    ("vae_course.models", "vae_course.models.base", ["VAEBase", "check_images", "check_latent"]),
    ("vae_course.models", "vae_course.models.registry", ["MODEL_CLASSES", "register_model"]),
    ("vae_course.widgets", "vae_course.widgets.latent_explorer", ["LatentExplorer", "latent_explorer"]),
    ("vae_course.widgets", "vae_course.widgets.png", ["digit_png", "ScatterCanvas", "DIGIT_SCALE"]),
    ("vae_course.exercises", "vae_course.exercises.core", ["CheckResult", "compare", "random_cases"]),
    ("vae_course.exercises", "vae_course.exercises.theory", ["check_gaussian_kl", "check_reparameterize"]),
    ("vae_course.exercises", "vae_course.exercises.beyond", ["check_kl_weight", "check_condition_on_label"]),
]


@pytest.mark.parametrize("old, new, names", MOVED, ids=[f"{o}<-{n}" for o, n, _ in MOVED])
def test_old_paths_hand_out_the_new_objects(old, new, names):
    old_mod, new_mod = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(old_mod, name) is getattr(new_mod, name), f"{old}.{name} is not {new}.{name}"


@pytest.mark.parametrize("module", ["vae_course.models", "vae_course.widgets", "vae_course.exercises",
                                    "vae_course.cvae", "vae_course.autoregressive", "vae_course.deep_vae",
                                    "vae_course.elbo_panel", "vae_course.cvae_widgets"])
def test_every_listed_name_exists(module):
    mod = importlib.import_module(module)
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert not missing, f"{module}.__all__ names {missing}, which it does not define"


def test_the_old_image_png_copy_is_gone():
    assert not hasattr(importlib.import_module("vae_course.cvae_widgets"), "image_png")
