import torch

from vae_course.exercises import CheckResult, compare, random_cases


def ref(x):
    return 2 * x


CASES = [("fixed", (torch.tensor([1.0, -2.0]),), {})] + random_cases(lambda g: ((torch.randn(3, generator=g),), {}), 3)


def test_pass_and_message():
    r = compare(lambda x: x + x, ref, CASES, name="double", hint="multiply by two")
    assert isinstance(r, CheckResult) and r and repr(r).startswith("PASS double: all 4 cases")


def test_wrong_values_fail_with_hint():
    r = compare(lambda x: 3 * x, ref, CASES, name="double", hint="multiply by two")
    assert not r and "FAIL double: case 1 (fixed)" in r.message and "Hint: multiply by two" in r.message


def test_wrong_shape_fails():
    r = compare(lambda x: (2 * x).unsqueeze(0), ref, CASES, name="double", hint="h")
    assert not r and "shape (1, 2), expected (2,)" in r.message


def test_exceptions_and_stubs_are_reported():
    def stub(x):
        raise NotImplementedError

    assert "still a stub" in compare(stub, ref, CASES, name="d", hint="h").message
    r = compare(lambda x: x.nope(), ref, CASES, name="d", hint="h")
    assert not r and "raised AttributeError" in r.message
    assert "pass your function itself" in compare(3, ref, CASES, name="d", hint="h").message


def test_numbers_and_tuples():
    r = compare(lambda a: (a, 2.0), lambda a: (a, 2.0), [("t", (torch.ones(2),), {})], name="t", hint="h")
    assert r
    r = compare(lambda a: 1.5, lambda a: 1.0, [("n", (0,), {})], name="n", hint="h")
    assert not r and "got 1.5, expected 1" in r.message


def test_random_cases_are_seeded():
    a = random_cases(lambda g: ((torch.randn(2, generator=g),), {}), 2)
    b = random_cases(lambda g: ((torch.randn(2, generator=g),), {}), 2)
    assert all(torch.equal(x[1][0], y[1][0]) for x, y in zip(a, b))
