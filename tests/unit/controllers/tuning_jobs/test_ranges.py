"""ParameterRanges as Optuna distributions: scales, conversions to and from SageMaker's strings, what they refuse."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from modelbay.controllers.tuning_jobs.ranges import ranges


def test_ranges_keep_their_kinds_and_scales() -> None:
    integer, continuous, categorical = ranges({
        "CategoricalParameterRanges": [{"Name": "c", "Values": ["a", "b"]}],
        "IntegerParameterRanges": [{"Name": "i", "MinValue": "1", "MaxValue": "5000"}],  # Auto: 3.7 decades, log
        "ContinuousParameterRanges": [{"Name": "f", "MinValue": "0", "MaxValue": "1"}]})  # Auto: linear
    assert integer.distribution == IntDistribution(1, 5000, log=True)
    assert continuous.distribution == FloatDistribution(0.0, 1.0)
    assert categorical.distribution == CategoricalDistribution(("a", "b"))


def test_integers_are_parsed_and_formatted_without_a_decimal_point() -> None:
    (tuned,) = ranges({"IntegerParameterRanges": [{"Name": "i", "MinValue": "2", "MaxValue": "8"}]})
    assert tuned.parse("3") == 3 and tuned.parse("3.0") == 3 and tuned.format(7) == "7"
    for outside in ("1", "9", "3.5", "many"):
        with pytest.raises(ValueError):
            tuned.parse(outside)


def test_reverse_logarithmic_searches_one_minus_the_value() -> None:
    (tuned,) = ranges({"ContinuousParameterRanges": [
        {"Name": "momentum", "MinValue": "0.5", "MaxValue": "0.999", "ScalingType": "ReverseLogarithmic"}]})
    searched = tuned.distribution
    assert isinstance(searched, FloatDistribution) and searched.log
    assert searched.low == pytest.approx(0.001) and searched.high == 0.5
    assert tuned.format(0.01) == "0.99" and tuned.parse("0.99") == pytest.approx(0.01)
    assert 0.5 <= float(tuned.format(searched.low)) <= 0.999
    assert searched.low <= tuned.parse("0.999") <= searched.high  # 1 - (1 - y) an ulp off is clipped


REVERSE = {"ScalingType": "ReverseLogarithmic"}


@pytest.mark.parametrize(("member", "spec", "words"), [
    ("IntegerParameterRanges", {"MinValue": "5", "MaxValue": "1"}, "greater than its MaxValue"),
    ("ContinuousParameterRanges", {"MinValue": "0", "MaxValue": "1", "ScalingType": "Logarithmic"}, "greater than 0"),
    ("ContinuousParameterRanges", {"MinValue": "0", "MaxValue": "1", **REVERSE}, "0 <= x < 1"),
    ("IntegerParameterRanges", {"MinValue": "0", "MaxValue": "1", **REVERSE}, "integer"),
])
def test_ranges_optuna_cannot_search_are_refused(member: str, spec: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        ranges({member: [{"Name": "p", **spec}]})


def test_grid_enumerates_categorical_and_integer_ranges_only() -> None:
    integer, continuous, categorical = ranges({
        "IntegerParameterRanges": [{"Name": "i", "MinValue": "1", "MaxValue": "3"}],
        "ContinuousParameterRanges": [{"Name": "f", "MinValue": "0", "MaxValue": "1"}],
        "CategoricalParameterRanges": [{"Name": "c", "Values": ["a", "b"]}]})
    assert integer.grid() == (1, 2, 3) and categorical.grid() == ("a", "b")
    with pytest.raises(ValueError, match="continuous"):
        continuous.grid()
