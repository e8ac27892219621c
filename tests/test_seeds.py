"""vae_course.evaluation.seeds: the spread over training seeds and paired per-image differences."""
import math
import statistics

import pytest
import torch

from vae_course.evaluation import SeedSpread, paired_difference, seed_spread


def test_known_mean_and_sample_std():
    spread = seed_spread([1.0, 2.0, 3.0, 4.0])
    assert spread.n == 4
    assert spread.mean == pytest.approx(2.5, abs=1e-12)
    assert spread.std == pytest.approx(math.sqrt(5 / 3), abs=1e-12)  # ddof = 1, not sqrt(5 / 4)
    assert spread.stderr == pytest.approx(math.sqrt(5 / 3) / 2, abs=1e-12)
    assert str(spread) == "2.50 ± 1.29 over 4 seeds"
    assert f"{spread:.3f}" == "2.500 ± 1.291 over 4 seeds"
    assert f"{seed_spread([-1.0, -2.0, -3.0]):+.1f}" == "-2.0 ± 1.0 over 3 seeds"  # a sign for the mean only


def test_agrees_with_statistics_on_random_values():
    values = (torch.randn(7, generator=torch.Generator().manual_seed(0)) * 3 + 90).tolist()
    spread = seed_spread(values)
    assert spread.mean == pytest.approx(statistics.fmean(values), abs=1e-12)
    assert spread.std == pytest.approx(statistics.stdev(values), abs=1e-12)


def test_tensor_and_tuple_inputs_give_the_same_spread():
    a = seed_spread(torch.tensor([86.71, 86.52, 86.90], dtype=torch.float64))
    b = SeedSpread((86.71, 86.52, 86.90))
    assert a == b and str(a) == "86.71 ± 0.19 over 3 seeds"


def test_paired_standard_error_is_far_below_the_unpaired_one_on_correlated_scores():
    gen = torch.Generator().manual_seed(1)
    n = 4000
    difficulty = 20 * torch.randn(n, generator=gen)  # what the images share: an easy digit is easy for both
    a = 100 + difficulty + 0.5 * torch.randn(n, generator=gen)
    b = 99 + difficulty + 0.5 * torch.randn(n, generator=gen)
    mean, se = paired_difference(a, b)
    unpaired = math.hypot(a.double().std().item(), b.double().std().item()) / math.sqrt(n)
    assert mean == pytest.approx(1.0, abs=4 * se)
    assert se == pytest.approx(0.5 * math.sqrt(2) / math.sqrt(n), rel=0.1)  # sd(a - b) = 0.5 sqrt 2
    assert se < unpaired / 20
    assert se == pytest.approx(((a.double() - b.double()).std() / math.sqrt(n)).item(), rel=1e-12)


def test_paired_equals_unpaired_for_independent_scores():
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(20_000, generator=gen), torch.randn(20_000, generator=gen) + 0.3
    mean, se = paired_difference(a, b)
    unpaired = math.hypot(a.std().item(), b.std().item()) / math.sqrt(len(a))
    assert mean == pytest.approx(-0.3, abs=4 * se)
    assert se == pytest.approx(unpaired, rel=0.05)


@pytest.mark.parametrize("values, words", [
    ([86.7], "at least 2"),
    ([], "at least 2"),
    ([86.7, float("nan"), 86.5], "finite"),
    ([86.7, "86.5"], "plain numbers"),
    ([86.7, True], "plain numbers"),
    ("86.7", "list of numbers"),
    (86.7, "list of numbers"),
])
def test_bad_seed_values_get_one_sentence(values, words):
    with pytest.raises(ValueError) as err:
        seed_spread(values)
    message = str(err.value)
    assert words in message and "\n" not in message and message.endswith((".", ")."))


@pytest.mark.parametrize("a, b, words", [
    (torch.zeros(5), torch.zeros(6), "same images"),
    (torch.zeros(5, 2), torch.zeros(5, 2), "1-D"),
    ([1.0, 2.0], torch.zeros(2), "tensor of per-image scores"),
    (torch.zeros(1), torch.zeros(1), "at least 2"),
    (torch.tensor([1.0, float("inf")]), torch.zeros(2), "non-finite"),
])
def test_bad_paired_inputs_get_one_sentence(a, b, words):
    with pytest.raises(ValueError) as err:
        paired_difference(a, b)
    message = str(err.value)
    assert words in message and "\n" not in message and message.endswith(".")
