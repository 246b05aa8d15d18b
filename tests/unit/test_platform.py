from __future__ import annotations

from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.platform import Platform, Regions, UnknownRegion


def test_a_region_opens_on_first_use_and_again_at_start_up_when_it_has_data(tmp_path: Path) -> None:
    regions = Regions(Settings(data_dir=tmp_path))
    told: list[Platform] = []
    regions.on_open = told.append
    assert regions.find("eu-west-3") is None

    paris = regions.get("eu-west-3")
    assert told == [paris] and regions.get("eu-west-3") is paris and regions.find("eu-west-3") is paris
    assert paris.objects is regions.home.objects and paris.metadata is not regions.home.metadata
    assert (paris.settings.data_dir, paris.settings.region) == (tmp_path / "regions/eu-west-3", "eu-west-3")
    regions.close()

    reopened = Regions(Settings(data_dir=tmp_path))
    assert [p.settings.region for p in reopened.opened()] == ["us-east-1", "eu-west-3"]
    reopened.close()


def test_a_region_aws_does_not_have_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    regions = Regions(Settings(data_dir=tmp_path))
    for region in ("xx-nowhere-1", "../../etc", ""):
        with pytest.raises(UnknownRegion):
            regions.get(region)
    assert not (tmp_path / "regions").exists()
    regions.close()
