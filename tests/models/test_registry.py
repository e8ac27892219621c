import inspect

import pytest

from vae_course import models
from vae_course.models import MODEL_CLASSES, VAEBase, register_model


def test_every_family_is_registered_by_its_class_name():
    families = {name: obj for name, obj in vars(models).items()
                if inspect.isclass(obj) and issubclass(obj, VAEBase) and obj is not VAEBase}
    assert set(families) == {"VAE", "ConvVAE", "DeepVAE", "CVAE", "AutoregressiveVAE"}
    assert {name: MODEL_CLASSES[name] for name in families} == families


def test_register_model_adds_a_new_family(monkeypatch):
    monkeypatch.setattr(models.registry, "MODEL_CLASSES", dict(MODEL_CLASSES))

    class TinyVAE(VAEBase):
        pass

    assert register_model(TinyVAE) is TinyVAE
    assert models.registry.MODEL_CLASSES["TinyVAE"] is TinyVAE
    with pytest.raises(KeyError):
        MODEL_CLASSES["TinyVAE"]  # the real registry was left alone
