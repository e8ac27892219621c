"""vae_course: the helper package of the Variational Autoencoder course.

One home per kind of thing; each module's docstring names the notebooks that use it. The modules stand in six
layers, and a module imports only from its own layer or the layers below it (``tests/test_architecture.py``
checks that, and CONTRIBUTING.md explains it).

1. Foundation
   * :mod:`vae_course.config`        quick mode, data/checkpoint folders, device, seeding
   * :mod:`vae_course.data`          MNIST / FashionMNIST as in-memory tensors
2. Models and objectives
   * :mod:`vae_course.models`        one module per family: the reference MLP ``VAE``, ``ConvVAE``, ``DeepVAE``,
     ``CVAE``, ``AutoregressiveVAE``; the shared base class and input checks; the registry checkpoints use
   * :mod:`vae_course.losses`        the Gaussian KL, reconstruction terms and the ELBO, in nats per image
   * :mod:`vae_course.objective`     how the ELBO is optimized: the KL warm-up schedule and free bits
   * :mod:`vae_course.toy`           the linear-Gaussian model with an exact posterior (notebooks 01-04)
   * :mod:`vae_course.estimators`    score-function vs pathwise gradient estimators (notebook 04)
   * :mod:`vae_course.cvae`, :mod:`vae_course.autoregressive`  re-exports of their ``models`` modules (10, 09)
3. Training and checkpoints
   * :mod:`vae_course.train`         ``fit`` / ``evaluate`` and the per-epoch ``History``
   * :mod:`vae_course.checkpoints`   atomic, weights-only checkpoints
   * :mod:`vae_course.pretrained`    load a course checkpoint or train it (notebooks 05-06)
   * :mod:`vae_course.deep_vae`      the recipe that trains the best log-likelihood model (notebook 08)
4. Evaluation
   * :mod:`vae_course.iwae`          the importance-weighted bound on log p(x) (notebook 08)
   * :mod:`vae_course.likelihoods`   decoder distributions and the likelihood table (notebook 07)
   * :mod:`vae_course.collapse`      active units, per-dimension KL, beta sweeps, posterior collapse (notebook 09)
   * :mod:`vae_course.latent_space`  encoded means, quantile grids, interpolation, PCA plane, posterior ellipses
5. Views
   * :mod:`vae_course.viz`           static figures: image grids, loss curves, scatters, manifold grids
   * :mod:`vae_course.widgets`       the interactive views: latent explorer, digit encoder, interpolation, the ELBO
     panel (02) and the CVAE explorer (10), on one ``_View`` base and one set of PNG helpers
   * :mod:`vae_course.elbo_panel`, :mod:`vae_course.cvae_widgets`  re-exports of their ``widgets`` modules (02, 10)
6. Course tooling
   * :mod:`vae_course.exercises`     automatic checks for the notebooks' exercises, grouped by part
   * :mod:`vae_course.execute`       runs the notebooks top to bottom (``python -m vae_course execute``)
   * :mod:`vae_course.__main__`      the command line (``python -m vae_course``)
"""
__version__ = "0.1.0"
