"""vae_course: the helper package of the Variational Autoencoder course.

One concept per module; each module's docstring names the notebooks that use it.

Foundation
* :mod:`vae_course.config`       quick mode, data/checkpoint folders, device, seeding
* :mod:`vae_course.data`         MNIST / FashionMNIST as in-memory tensors
* :mod:`vae_course.models`       the reference MLP ``VAE`` and ``ConvVAE``
* :mod:`vae_course.losses`       the Gaussian KL, reconstruction terms and the ELBO, in nats per image
* :mod:`vae_course.train`        ``fit`` / ``evaluate`` and the per-epoch ``History``
* :mod:`vae_course.checkpoints`  atomic, weights-only checkpoints
* :mod:`vae_course.execute`      runs the notebooks top to bottom (``python -m vae_course execute``)
* :mod:`vae_course.exercises`    automatic checks for the notebooks' exercises

Theory (notebooks 01-04)
* :mod:`vae_course.toy`          the linear-Gaussian model with an exact posterior
* :mod:`vae_course.estimators`   score-function vs pathwise gradient estimators
* :mod:`vae_course.elbo_panel`   the ELBO widget of notebook 02

Practice (notebooks 05-06)
* :mod:`vae_course.pretrained`   load a course checkpoint or train it
* :mod:`vae_course.latent_space` encoded means, quantile grids, interpolation, PCA plane, posterior ellipses
* :mod:`vae_course.viz`          static figures: image grids, loss curves, scatters, manifold grids
* :mod:`vae_course.widgets`      the latent-space explorer and its companions

Beyond the basics (notebooks 07-10)
* :mod:`vae_course.likelihoods`  decoder distributions and the likelihood table
* :mod:`vae_course.iwae`         the importance-weighted bound on log p(x)
* :mod:`vae_course.deep_vae`     the course's best model for the log-likelihood
* :mod:`vae_course.collapse`     KL warm-up, active units, beta sweeps, posterior collapse
* :mod:`vae_course.autoregressive` a decoder strong enough to ignore z
* :mod:`vae_course.cvae`         the conditional VAE
* :mod:`vae_course.cvae_widgets` the digit-and-style explorer of notebook 10
"""
__version__ = "0.1.0"
