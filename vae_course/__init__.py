"""vae_course: the helper package of the Variational Autoencoder course.

One concept per module; each module's docstring names the notebooks that use it.

* :mod:`vae_course.config`      quick mode, data/checkpoint folders, device, seeding
* :mod:`vae_course.data`        MNIST / FashionMNIST as in-memory tensors
* :mod:`vae_course.models`      the reference MLP ``VAE`` and ``ConvVAE``
* :mod:`vae_course.losses`      the Gaussian KL, reconstruction terms and the ELBO, in nats per image
* :mod:`vae_course.train`       ``fit`` / ``evaluate`` and the per-epoch ``History``
* :mod:`vae_course.checkpoints` atomic, weights-only checkpoints
* :mod:`vae_course.exercises`   automatic checks for the notebooks' exercises
"""
__version__ = "0.1.0"
