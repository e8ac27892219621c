"""The machinery of the checks (vae_course.teaching.exercises.core) and the registry: verdicts with metadata, the
float32-aware tolerance, diagnoses, three-step hints, mine_or_reference and reveal."""
import pytest
import torch

from vae_course.teaching import exercises
from vae_course.teaching.exercises.core import CheckResult, compare, random_cases
from vae_course.teaching.exercises.tripwire import Tripwire
from vae_course.teaching.exercises.core import close, mismatch
from vae_course.teaching.exercises.registry import HintBook


def ref(x):
    return 2 * x


CASES = [("fixed", (torch.tensor([1.0, -2.0]),), {})] + random_cases(lambda g: ((torch.randn(3, generator=g),), {}), 3)


def test_pass_message_and_metadata():
    r = compare(lambda x: x + x, ref, CASES, name="double")
    assert isinstance(r, CheckResult) and r and r.verdict == "PASS"
    assert repr(r) == "PASS double: all 4 cases match the reference (fixed and random inputs)."
    assert r._repr_mimebundle_() == ({"text/plain": repr(r)}, {"vae_course": {"exercise": "double", "verdict": "PASS"}})


def test_wrong_values_name_the_case_and_the_difference_not_the_hint():
    r = compare(lambda x: 3 * x, ref, CASES, name="double", hint="multiply by two")
    assert not r and r.verdict == "FAIL"
    assert r.message.startswith("FAIL double: case 1 (fixed): largest absolute difference 2 at index (1,) "
                                "(got -6, expected -4).")
    assert "1.5 times the expected one" in r.message and "multiply by two" not in r.message
    assert "exercises.hint('double')" in r.message


def test_wrong_shape_and_dtype_are_named_as_such():
    r = compare(lambda x: (2 * x).unsqueeze(0), ref, CASES, name="double")
    assert "wrong shape: got (1, 2), expected (2,)" in r.message
    r = compare(lambda x: (2 * x).long(), ref, CASES, name="double")
    assert "wrong dtype: got torch.int64" in r.message
    assert "missing a sum" in mismatch(torch.zeros(3, 4), torch.zeros(3))
    assert "too many axes" in mismatch(torch.zeros(()), torch.zeros(3))
    assert "transposed" in mismatch(torch.zeros(4, 3), torch.zeros(3, 4))


def test_the_tolerance_fits_float32_and_nothing_looser():
    want = torch.tensor([-8.52264, 1234.5, 1e-9], dtype=torch.float64)
    assert bool(close(want.float().double(), want).all())  # the float32 example passes
    assert not bool(close(want + torch.tensor([0.01, 0.0, 0.0], dtype=torch.float64), want).all())
    assert mismatch(torch.tensor(-1000.4), torch.tensor(-1000.0, dtype=torch.float64)) is not None
    assert mismatch(float("nan"), torch.tensor(1.0)) is not None
    assert mismatch(torch.tensor([float("-inf")]), torch.tensor([float("-inf")])) is None


def test_stubs_are_todo_and_errors_are_one_line():
    def stub(x):
        raise NotImplementedError("your code here")

    r = compare(stub, ref, CASES, name="d")
    assert r.verdict == "TODO" and not r and r.message == "TODO d: not written yet (it raises NotImplementedError)."
    assert r._repr_mimebundle_()[1] == {"vae_course": {"exercise": "d", "verdict": "TODO"}}
    r = compare(lambda x: x.nope(), ref, CASES, name="d")
    assert not r and "case 1 (fixed) raised AttributeError" in r.message and "Traceback" not in r.message
    assert "pass your function itself" in compare(3, ref, CASES, name="d").message


def test_diagnoses_name_a_known_mistake():
    r = compare(lambda x: x, ref, CASES, name="double", diagnoses=[("You forgot to double.", lambda x: x),
                                                                  ("Never shown.", lambda x: -x)])
    assert "You forgot to double." in r.message and "Never shown" not in r.message


def test_numbers_and_tuples():
    assert compare(lambda a: (a, 2.0), lambda a: (a, 2.0), [("t", (torch.ones(2),), {})], name="t")
    r = compare(lambda a: 1.5, lambda a: 1.0, [("n", (0,), {})], name="n")
    assert not r and "got 1.5, expected 1" in r.message
    r = compare(lambda a: (a, a), lambda a: (a, 2 * a), [("t", (torch.ones(2),), {})], name="t", names=("x", "y"))
    assert "case 1 (t): y: largest absolute difference" in r.message


def test_random_cases_are_seeded():
    a = random_cases(lambda g: ((torch.randn(2, generator=g),), {}), 2)
    b = random_cases(lambda g: ((torch.randn(2, generator=g),), {}), 2)
    assert all(torch.equal(x[1][0], y[1][0]) for x, y in zip(a, b))


def test_legacy_check_result():
    r = CheckResult(False, "FAIL thing: nope")
    assert r.verdict == "FAIL" and r.exercise == "thing" and not r
    with pytest.raises(ValueError):
        CheckResult(True, "x", verdict="MAYBE")


# --- the registry ---------------------------------------------------------------------------------------------------
def test_every_checker_is_registered_and_every_reference_passes_its_own_check():
    checkers = {n for n in exercises.__all__ if n.startswith("check_")}
    assert checkers == set(exercises.registry.CHECKERS)
    assert len(exercises.EXERCISES) >= 21
    for name, ex in exercises.EXERCISES.items():
        assert ex.name == name and ex.notebook
        with Tripwire.suspend():
            result = ex.check(ex.reference)
        assert result.verdict == "PASS" and result.exercise == name, result.message
        handed = ex.check(ex.reference)  # the reference as the learner's answer hands the work to the package
        assert handed.verdict == "REFERENCE" and "calls" in handed.message, (name, handed.message)
        assert exercises.exercise_of_checker(ex.check.__name__) == name
        assert len(ex.hints) == 3, f"{name}: three hints (the idea, the key step, the math)"
        assert all("`" not in h for h in ex.hints[:2]), f"{name}: only the third hint holds code"


def test_hints_come_in_three_steps():
    book = HintBook({"kl": ("idea", "key step", "formula")})
    assert [book.next("kl") for _ in range(4)] == [
        "Hint 1/3 for kl (the idea): idea", "Hint 2/3 for kl (the key step): key step",
        "Hint 3/3 for kl (the math): formula", "Hint 3/3 for kl (the math): formula"]
    with pytest.raises(ValueError):
        HintBook({"x": ("only one",)})
    exercises.HINTS.reset("gaussian_kl")
    steps = [exercises.hint("gaussian_kl") for _ in range(3)]
    assert [s.split(" (")[0] for s in steps] == ["Hint 1/3 for gaussian_kl", "Hint 2/3 for gaussian_kl",
                                                 "Hint 3/3 for gaussian_kl"]
    assert repr(steps[0]) == str(steps[0])  # shows without quotes as a cell's last line
    assert steps[2].endswith(exercises.EXERCISES["gaussian_kl"].hints[2]) and "(the math)" in steps[2]
    with pytest.raises(KeyError, match="gaussian_kl"):
        exercises.hint("gausian_kl")


def test_mine_or_reference(capsys):
    def kl(mu, logvar):
        return -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp(), dim=-1)

    def stub(mu, logvar):
        raise NotImplementedError

    assert exercises.mine_or_reference(kl, "gaussian_kl") is kl
    assert capsys.readouterr().out == "Using your gaussian_kl (it passes its check).\n"
    assert exercises.mine_or_reference(stub, "gaussian_kl") is exercises.EXERCISES["gaussian_kl"].reference
    assert capsys.readouterr().out == ("Using the reference gaussian_kl (yours is not written yet), so that the cells "
                                       "below still run.\n")
    exercises.mine_or_reference(lambda mu, logvar: 0 * mu.sum(-1), "gaussian_kl")
    assert "yours does not pass its check yet" in capsys.readouterr().out


def test_reveal(capsys):
    exercises.reveal(None, 0.81, what="the fraction", explanation="Because.")
    out = capsys.readouterr().out
    assert out.startswith("TODO prediction:") and "0.81" not in out and "Because" not in out
    exercises.reveal(0.8, 0.81, what="fraction", explanation="Because.")
    assert capsys.readouterr().out == "You predicted 0.8; the measured fraction is 0.81: within 10%, well done.\nBecause.\n"
    exercises.reveal("smaller", "larger", what="the spread", explanation="E.")
    assert "not quite" in capsys.readouterr().out
