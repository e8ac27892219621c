"""Everything that trains: ``fit`` and its ``History``, checkpoints, the cached recipes and the sweeps.

Used by notebooks 05-12 (``from vae_course.training import fit, load_or_train``), the CLI and ``benchmarks/``.

* :mod:`~vae_course.training.fit_loop`       ``fit``, ``History``, ``make_adam``, mixed precision (notebooks 05-12)
* :mod:`~vae_course.training.fit_checks`     the checks of ``fit``'s training options (one sentence each)
* :mod:`~vae_course.training.checkpoints`    atomic, weights-only checkpoints (notebooks 05, 06, 08, 11; the CLI)
* :mod:`~vae_course.training.pretrained`     the reference models: load or train
  (notebooks 04-06, 08, 11)
* :mod:`~vae_course.training.deep_vae`       the recipe of the best log-likelihood model (notebook 08)
* :mod:`~vae_course.training.best_model`     the recipe aimed at Burda et al.'s IWAE: ELBO epochs, then L_k with the
  DReG gradient, weight averaging (``benchmarks/best_model.py --recipe burda``; notebook 13, §7)
* :mod:`~vae_course.training.iwae_training`  the cached IWAE-trained models and gap splits (notebook 08)
* :mod:`~vae_course.training.deeper`         notebook 13's hierarchies and flow posteriors, over seeds, cached
* :mod:`~vae_course.training.diffusion`      notebook 14's diffusion model, its bound, latent diffusion, cached
* :mod:`~vae_course.training.vq`             the VQ-VAE's training loop and codebook measures (notebook 12)
* :mod:`~vae_course.training.vq_prior`       the learned prior over a VQ-VAE's codes, cached (notebook 12)
* :mod:`~vae_course.training.sweeps`         experiments that train several models: the beta sweep and collapse runs
  (notebook 09), the likelihood table (notebook 07)
"""
from .checkpoints import (CheckpointError, FORMAT_VERSION, MAX_PARAMETERS, STALE_SECONDS, load_checkpoint,
                          read_checkpoint, remove_stale_temp_files, save_checkpoint, weights_checksum)
from .deep_vae import (BestRecipe, best_checkpoint_path, best_recipe, cosine_lr, epoch_logger,
                       load_or_train_best_model, train_best_model)
from .fit_checks import FitSetup, checked_setup
from .fit_loop import History, TrainingDivergedError, autocast_dtype, cpu_has_native_bf16, fit, make_adam
from .iwae_training import (IWAERecipe, IWAERun, SCORE_KEYS, cached_gap_split, evaluate_model, iwae_checkpoint_path,
                            iwae_recipe, load_or_train_iwae, weights_fingerprint)
from .pretrained import (Pretrained, Recipe, build_model, checkpoint_name, checkpoint_path, data_fingerprint,
                         default_epochs, estimate_training_seconds, load_or_train, make_recipe, previous_path,
                         save_pretrained, stored_recipe, train_reference)
from .prior_runs import PRIOR_KINDS, PriorRecipe, PriorRun, build_prior, load_or_train_with_prior, make_prior_recipe
from .runs import (CachedRun, RUN_FORMAT, call_fit, load_or_fit, load_or_train_run, objective_settings, per_image_elbo,
                   run_key)
from .sweeps import LikelihoodRow, TABLE_SETUPS, beta_sweep, collapse_run, format_table, likelihood_table, remedy_runs
from .vq import (VQHistory, encode_indices, init_codebook, load_or_train_vqvae, per_image_vq_recon, restart_dead_codes,
                 train_vqvae, vq_bound)

__all__ = [
    "BestRecipe", "CachedRun", "CheckpointError", "FORMAT_VERSION", "FitSetup", "History", "IWAERecipe", "IWAERun",
    "LikelihoodRow", "MAX_PARAMETERS", "PRIOR_KINDS", "Pretrained", "PriorRecipe", "PriorRun", "RUN_FORMAT", "Recipe",
    "SCORE_KEYS", "TABLE_SETUPS", "TrainingDivergedError", "VQHistory", "autocast_dtype", "best_checkpoint_path",
    "best_recipe", "beta_sweep", "build_model", "build_prior", "cached_gap_split", "call_fit", "checked_setup",
    "checkpoint_name", "checkpoint_path", "collapse_run", "cosine_lr", "cpu_has_native_bf16", "data_fingerprint",
    "default_epochs", "epoch_logger", "encode_indices", "estimate_training_seconds", "evaluate_model", "fit",
    "format_table",
    "init_codebook", "iwae_checkpoint_path", "iwae_recipe", "likelihood_table", "load_checkpoint", "load_or_fit",
    "load_or_train", "load_or_train_best_model", "load_or_train_iwae", "load_or_train_run", "load_or_train_vqvae",
    "load_or_train_with_prior", "make_adam", "make_prior_recipe", "make_recipe", "objective_settings", "per_image_elbo",
    "per_image_vq_recon", "read_checkpoint", "remedy_runs", "restart_dead_codes", "run_key", "save_checkpoint",
    "save_pretrained", "stored_recipe", "train_best_model", "train_reference", "train_vqvae", "vq_bound",
    "weights_fingerprint",
]
from .iwae_training import train_iwae  # noqa: E402  (NB-C: the IWAE recipe's training call, shown in notebook 08)
__all__ += ["train_iwae"]
__all__ += ["STALE_SECONDS", "previous_path", "remove_stale_temp_files", "weights_checksum"]  # issue 27 §2
from .deeper import (GAP_SETTINGS, KINDS, DeeperRecipe, StructuredELBO, cached_structured_gaps,  # noqa: E402
                     deeper_recipe, headline_bound, load_or_compute, load_or_train_deeper, run_name, score_deeper,
                     weights_key)
__all__ += ["DeeperRecipe", "GAP_SETTINGS", "KINDS", "StructuredELBO", "cached_structured_gaps", "deeper_recipe",
            "headline_bound", "load_or_compute", "load_or_train_deeper", "run_name", "score_deeper", "weights_key"]  # notebook 13
from .vq_prior import CodePriorHistory, codes_fingerprint, load_or_train_code_prior, train_code_prior  # noqa: E402
__all__ += ["CodePriorHistory", "codes_fingerprint", "load_or_train_code_prior", "train_code_prior"]  # notebook 12
from .disentangle import ShapesRecipe, load_or_train_shapes, shapes_recipe  # noqa: E402
__all__ += ["ShapesRecipe", "load_or_train_shapes", "shapes_recipe"]  # nb 15
from .diffusion import (DiffusionELBO, DiffusionRecipe, LatentRecipe, cached_diffusion_elbo,  # noqa: E402
                        decode_codes, diffusion_recipe, latent_recipe, load_or_train_diffusion,
                        load_or_train_kl_autoencoder, load_or_train_latent_diffusion)
__all__ += ["DiffusionELBO", "DiffusionRecipe", "LatentRecipe", "cached_diffusion_elbo", "decode_codes",
            "diffusion_recipe", "latent_recipe", "load_or_train_diffusion", "load_or_train_kl_autoencoder",
            "load_or_train_latent_diffusion"]  # notebook 14
from .best_model import (BURDA_TABLE_1, ESTIMATORS, BurdaRecipe, ELBOThenWeighted, WeightAverage,  # noqa: E402
                         burda_checkpoint_path, burda_differences, burda_recipe, load_or_train_burda_model, score_bound,
                         train_burda_model, trained_burda_seeds, weighted_terms)
__all__ += ["BURDA_TABLE_1", "ESTIMATORS", "BurdaRecipe", "ELBOThenWeighted", "WeightAverage", "burda_checkpoint_path",
            "burda_differences", "burda_recipe", "load_or_train_burda_model", "score_bound", "train_burda_model",
            "trained_burda_seeds", "weighted_terms"]  # benchmarks/best_model.py and notebook 13
