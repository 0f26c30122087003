import math

import pytest

from bindery.backups.distance import MIN_DISTANCE_KM, check_site_distance, great_circle_km

PARIS = (48.8566, 2.3522)
LONDON = (51.5074, -0.1278)
FRANKFURT = (50.1109, 8.6821)
NEW_YORK = (40.7128, -74.0060)


def test_known_distances_within_half_a_percent():
    # Reference great-circle distances (spherical Earth): Paris-London ~343.5 km,
    # Paris-New York ~5837 km, a quarter meridian 10007.5 km.
    assert great_circle_km(*PARIS, *LONDON) == pytest.approx(343.5, rel=0.005)
    assert great_circle_km(*PARIS, *NEW_YORK) == pytest.approx(5837, rel=0.005)
    assert great_circle_km(0, 0, 90, 0) == pytest.approx(10007.5, rel=0.001)


def test_symmetric_zero_and_antipodal():
    assert great_circle_km(*PARIS, *FRANKFURT) == pytest.approx(great_circle_km(*FRANKFURT, *PARIS))
    assert great_circle_km(*PARIS, *PARIS) == 0.0
    assert great_circle_km(0, 0, 0, 180) == pytest.approx(math.pi * 6371.0088)


def test_crossing_the_date_line_takes_the_short_way():
    assert great_circle_km(0, 179.5, 0, -179.5) == pytest.approx(111.2, rel=0.01)


def test_too_close_is_refused_unless_overridden():
    near = check_site_distance(PARIS, FRANKFURT)  # ~479 km
    assert near.distance_km < MIN_DISTANCE_KM
    assert not near.allowed
    assert not near.overridden
    assert "under" in near.reason

    forced = check_site_distance(PARIS, FRANKFURT, override=True)
    assert forced.allowed
    assert forced.overridden
    assert "override" in forced.reason


def test_far_enough_is_allowed_and_override_is_not_reported_when_unneeded():
    far = check_site_distance(PARIS, NEW_YORK, override=True)
    assert far.allowed
    assert not far.overridden


def test_boundary_is_inclusive():
    # Along the equator one degree of longitude is R*pi/180 km; pick the minimum exactly.
    degrees = MIN_DISTANCE_KM / (6371.0088 * math.pi / 180)
    assert check_site_distance((0, 0), (0, degrees)).allowed
    assert not check_site_distance((0, 0), (0, degrees * 0.999)).allowed


@pytest.mark.parametrize(
    "point",
    [(91, 0), (-90.5, 0), (0, 180.1), (0, -181), (float("nan"), 0), (0, float("inf")), (True, 0), ("1", 0)],
)
def test_bad_coordinates_are_rejected(point):
    with pytest.raises(ValueError, match=r"coordinate|latitude|longitude"):
        great_circle_km(*point, 0, 0)
    with pytest.raises(ValueError, match=r"coordinate|latitude|longitude"):
        check_site_distance((0, 0), point)
