"""The backup site must be far from the database it backs up (issue 9: at least 500 km).

A pure great-circle distance on a spherical Earth (haversine, mean radius 6371.0088 km) and the
rule built on it. An operator may override the rule, but only explicitly, and the override is
reported back so it can be shown and logged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088
MIN_DISTANCE_KM = 500.0


def _check_coordinate(latitude: float, longitude: float) -> None:
    for value in (latitude, longitude):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"coordinate must be a finite number, got {value!r}")
    if not -90.0 <= latitude <= 90.0:
        raise ValueError(f"latitude {latitude} is outside -90..90")
    if not -180.0 <= longitude <= 180.0:
        raise ValueError(f"longitude {longitude} is outside -180..180")


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in km between two points given in decimal degrees."""
    _check_coordinate(lat1, lon1)
    _check_coordinate(lat2, lon2)
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class DistanceVerdict:
    distance_km: float
    allowed: bool
    overridden: bool

    @property
    def reason(self) -> str:
        if self.overridden:
            return f"{self.distance_km:.0f} km is under {MIN_DISTANCE_KM:.0f} km: allowed by explicit override"
        if self.allowed:
            return f"{self.distance_km:.0f} km apart (minimum {MIN_DISTANCE_KM:.0f} km)"
        return f"{self.distance_km:.0f} km apart is under the {MIN_DISTANCE_KM:.0f} km minimum"


def check_site_distance(
    database_site: tuple[float, float],
    backup_site: tuple[float, float],
    *,
    override: bool = False,
    minimum_km: float = MIN_DISTANCE_KM,
) -> DistanceVerdict:
    """Judge whether a backup site is far enough from a database's datacenter."""
    distance = great_circle_km(*database_site, *backup_site)
    far_enough = distance >= minimum_km
    return DistanceVerdict(
        distance_km=distance,
        allowed=far_enough or override,
        overridden=override and not far_enough,
    )
