"""vae_course: the helper package of the Variational Autoencoder course.

The top level holds the foundation (``config``, ``data``) and seven packages, one per layer, bottom to top. A
package imports only from itself and the packages below it (``tests/test_architecture.py`` checks that, and
CONTRIBUTING.md explains it). Each package's ``__init__`` exports the public names of its modules, so a notebook
writes ``from vae_course.training import fit`` or ``from vae_course.objectives import gaussian_kl``; each module's
docstring names the notebooks that use it. This docstring is the map: ``tests/test_package_map.py`` fails when a
module is missing from it.

0. Foundation
   * :mod:`vae_course.config`    quick mode, data/checkpoint folders, device, seeding
   * :mod:`vae_course.data`      MNIST / Fashion-MNIST as in-memory tensors; make_shapes, sprites with known factors
   * :mod:`vae_course.__main__`  the command line (``python -m vae_course``)
1. :mod:`vae_course.models`: every model family, all with the same interface
   * :mod:`vae_course.models.base`            ``VAEBase`` and the input checks every family uses
   * :mod:`vae_course.models.registry`        ``MODEL_CLASSES``: what checkpoints rebuild from
   * :mod:`vae_course.models.mlp`             the reference MLP ``VAE`` (784-400-2)
   * :mod:`vae_course.models.conv`            ``ConvVAE``
   * :mod:`vae_course.models.deep`            ``DeepVAE``, the best model for the log-likelihood
   * :mod:`vae_course.models.cvae`            the conditional ``CVAE``
   * :mod:`vae_course.models.autoregressive`  ``AutoregressiveVAE``, a decoder strong enough to ignore z
   * :mod:`vae_course.models.vqvae`           ``VQVAE``, discrete codes from a codebook
   * :mod:`vae_course.models.code_prior`      ``AutoregressiveCodePrior``, a learned prior over the VQ-VAE's codes
   * :mod:`vae_course.models.hierarchical`    ``HierarchicalVAE``, two stochastic layers (bottom-up or ladder q)
   * :mod:`vae_course.models.flows`           ``FlowVAE``, a Gaussian q followed by inverse autoregressive flow steps
   * :mod:`vae_course.models.diffusion`       ``Diffusion``, a hierarchical VAE with a fixed encoder (notebook 14)
2. :mod:`vae_course.objectives`: what is minimised, in nats per image
   * :mod:`vae_course.objectives.objective`  the objectives ``fit`` minimises, as objects: ``ELBO``, ``IWAE``
   * :mod:`vae_course.objectives.losses`     the Gaussian KL, the reconstruction terms, ``ELBOTerms``, the ELBO
   * :mod:`vae_course.objectives.warmup`     the KL warm-up and free bits
   * :mod:`vae_course.objectives.priors`     learned priors p(z): mixture of Gaussians, VampPrior
   * :mod:`vae_course.objectives.iwae_loss`  training on the importance-weighted bound
   * :mod:`vae_course.objectives.tc`         beta-TCVAE: the total correlation by minibatch-weighted sampling
   * :mod:`vae_course.objectives.checks`     the argument checks that training and evaluation share
3. :mod:`vae_course.theory`: the exact toys and the gradient estimators
   * :mod:`vae_course.theory.toy`         the linear-Gaussian model with an exact posterior
   * :mod:`vae_course.theory.toy2d`       the same with a vector latent and a correlated posterior
   * :mod:`vae_course.theory.estimators`  score-function vs pathwise gradients, gradient variance and SNR
4. :mod:`vae_course.evaluation`: what scores a given model
   * :mod:`vae_course.evaluation.scores`        ``evaluate``: the test ELBO
   * :mod:`vae_course.evaluation.iwae`          the importance-weighted bound on log p(x)
   * :mod:`vae_course.evaluation.likelihoods`   decoder distributions as real distributions
   * :mod:`vae_course.evaluation.collapse`      active units, per-dimension KL, collapse measures
   * :mod:`vae_course.evaluation.surgery`       ELBO surgery: mutual information and the aggregate posterior's KL
   * :mod:`vae_course.evaluation.amortization`  the per-image optimal q and the split of the gap
   * :mod:`vae_course.evaluation.latent_space`  encoded means, grids, interpolation, planes, ellipses, holes
   * :mod:`vae_course.evaluation.seeds`         seed spreads and paired per-image differences of trained models
   * :mod:`vae_course.evaluation.structured`    bounds, active units per layer and the gap split of notebook 13's models
   * :mod:`vae_course.evaluation.seeds`         seed spreads and paired per-image differences of trained models
   * :mod:`vae_course.evaluation.disentanglement`  the mutual information gap (MIG) against known factors
5. :mod:`vae_course.training`: everything that trains
   * :mod:`vae_course.training.fit_loop`       ``fit(model, images, objective=...)`` and the per-epoch ``History``
   * :mod:`vae_course.training.fit_checks`     what ``fit`` checks and prepares before its loop
   * :mod:`vae_course.training.checkpoints`    atomic, weights-only checkpoints
   * :mod:`vae_course.training.pretrained`     the reference models: load or train
   * :mod:`vae_course.training.prior_runs`     notebook 11's VAEs trained with a learned prior, per seed, with scores
   * :mod:`vae_course.training.deep_vae`       the recipe of the best log-likelihood model
   * :mod:`vae_course.training.best_model`     the recipe aimed at Burda et al.'s IWAE: ELBO, then L_k (DReG), averaged
   * :mod:`vae_course.training.iwae_training`  the cached IWAE-trained models and gap splits
   * :mod:`vae_course.training.vq`             the VQ-VAE's training loop
   * :mod:`vae_course.training.vq_prior`       the learned prior over the VQ-VAE's codes, cached
   * :mod:`vae_course.training.sweeps`         the beta sweep, the collapse runs, the likelihood table
   * :mod:`vae_course.training.runs`           cached training runs with per-image test scores
   * :mod:`vae_course.training.deeper`         notebook 13's cached hierarchies and flow posteriors
   * :mod:`vae_course.training.disentangle`    notebook 15's cached beta-VAE and beta-TCVAE runs on make_shapes
   * :mod:`vae_course.training.diffusion`      notebook 14's cached diffusion model, its bound, latent diffusion
6. :mod:`vae_course.views`: static figures and interactive views
   * :mod:`vae_course.views.viz`              static figures
   * :mod:`vae_course.views.latent_explorer`  the latent-space explorer
   * :mod:`vae_course.views.digit_encoder`    a test image's posterior
   * :mod:`vae_course.views.interpolation`    the interpolation explorer
   * :mod:`vae_course.views.elbo_panel`       the ELBO panel
   * :mod:`vae_course.views.cvae_explorer`    the conditional VAE's explorer
   * :mod:`vae_course.views.monitor`          the training monitor
   * :mod:`vae_course.views.live`             the decoder in the browser
   * :mod:`vae_course.views.base`             the views' shared base
   * :mod:`vae_course.views.png`              the PNG helpers
   * :mod:`vae_course.views.snapshot`         the static twin of every view
7. :mod:`vae_course.teaching`: the course's own machinery
   * :mod:`vae_course.teaching.exercises`        exercise checkers, hints and answers, one module per part:
     :mod:`vae_course.teaching.exercises.core`, :mod:`vae_course.teaching.exercises.registry`,
     :mod:`vae_course.teaching.exercises.tripwire` (the REFERENCE verdict's tripwire),
     :mod:`vae_course.teaching.exercises.bounds`, :mod:`vae_course.teaching.exercises.collapse_cvae`,
     :mod:`vae_course.teaching.exercises.theory`, :mod:`vae_course.teaching.exercises.theory_limits`,
     :mod:`vae_course.teaching.exercises.theory_builds`,
     :mod:`vae_course.teaching.exercises.practice`, :mod:`vae_course.teaching.exercises.practice_models`,
     :mod:`vae_course.teaching.exercises.beyond`, :mod:`vae_course.teaching.exercises.beyond_models`,
     :mod:`vae_course.teaching.exercises.priors`, :mod:`vae_course.teaching.exercises.vq`,
     :mod:`vae_course.teaching.exercises.deeper`, :mod:`vae_course.teaching.exercises.disentangle`, :mod:`vae_course.teaching.exercises.diffusion`
   * :mod:`vae_course.teaching.execute`          runs the notebooks top to bottom
   * :mod:`vae_course.teaching.grade`            grades student notebooks
   * :mod:`vae_course.teaching.sandbox`          contains each graded submission (folder, limits, uid, signed verdicts)
   * :mod:`vae_course.teaching.output_folder`    output folders the commands may write into (marker, --force)
  * :mod:`vae_course.teaching.notebook_io`      broken notebooks named in one sentence; atomic notebook writes
   * :mod:`vae_course.teaching.student_edition`  the notebooks without solutions
   * :mod:`vae_course.teaching.website`          the course as a static website
   * :mod:`vae_course.teaching.site_pages`       the site's public notebook copies, tables of contents and search
   * :mod:`vae_course.teaching.slides`           offline reveal.js decks
   * :mod:`vae_course.teaching.lecture_decks`    the lecture decks, from lectures/N_name.md
   * :mod:`vae_course.teaching.web_assets`       local MathJax and reveal.js
"""
__version__ = "0.1.0"
