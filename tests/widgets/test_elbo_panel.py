import pytest

from vae_course.theory import LinearGaussian
from vae_course.views import ELBOPanel, panel_numbers

TOY = LinearGaussian(2.0, 0.5, 1.0)


def test_slider_changes_image_and_numbers():
    panel = ELBOPanel(TOY, x=3.0)
    png, text = panel.image.value, panel.readout.value
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "log p(x) = -2.3487" in text
    panel.mean_slider.value = 1.0
    assert panel.image.value != png and panel.readout.value != text
    png2 = panel.image.value
    panel.std_slider.value = 0.45
    assert panel.image.value != png2
    nums = panel.numbers
    assert nums == panel_numbers(TOY, 3.0, 1.0, 0.45)
    assert f"ELBO = {nums['elbo']:.4f}" in panel.readout.value
    assert abs(nums["gap"] - nums["kl_to_posterior"]) < 1e-12


def test_gap_vanishes_at_the_posterior():
    nums = panel_numbers(TOY, 3.0, 1.0, 0.2 ** 0.5)
    assert abs(nums["gap"]) < 1e-12 and abs(nums["elbo"] - nums["log_px"]) < 1e-12


def test_bad_input():
    with pytest.raises(TypeError):
        ELBOPanel("toy", x=3.0)
    with pytest.raises(TypeError):
        ELBOPanel(TOY, x=[3.0])
    with pytest.raises(ValueError, match="above 0"):
        ELBOPanel(TOY, x=3.0, std_range=(0.0, 1.0))


def test_the_panel_is_a_view_it_times_updates_and_closes():
    from ipywidgets.widgets.widget import _instances  # the registry whose state a notebook stores

    before = set(_instances)
    panel = ELBOPanel(TOY, x=3.0)
    n = len(panel.timings)
    panel.mean_slider.value = 0.5
    assert len(panel.timings) == n + 1 and panel.latency_ms()["n"] == n + 1
    assert "application/vnd.jupyter.widget-view+json" in panel._repr_mimebundle_()
    assert len(set(_instances) - before) > 3
    panel.close()
    assert set(_instances) - before == set()
