"""Which stations a CAP message concerns: points in its polygons and circles, or its geocodes.

Polygons are tested with shapely on the plane of longitude and latitude, as CAP draws them;
a point on an edge counts as inside (within `EDGE_TOLERANCE_DEGREES`, about a tenth of a
millimetre, so that a point computed onto an edge in floating point is not lost by rounding).
Shapely's x is the longitude and its y the latitude: CAP writes them the other way round.
A polygon whose longitudes span more than 180 degrees is taken to cross the antimeridian
the shorter way round (around Fiji or the Aleutians), not to circle most of the Earth.

Circles are measured on the sphere (haversine, the mean Earth radius of IUGG), which holds
across the antimeridian and near the poles, where degrees of longitude shrink to nothing.
Stations without coordinates can be matched only through a table of geocodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import shapely
from numpy.typing import NDArray

from notifier.cap.message import CapArea, CapCircle, CapMessage, Geocode, Polygon

EARTH_RADIUS_KM = 6371.0088
"""The mean radius of the Earth (IUGG), for great-circle distances."""

EDGE_TOLERANCE_DEGREES = 1e-9
"""How far outside a polygon's edge, in degrees, a point still counts as on it."""

_HALF_TURN = 180.0

StationPoint = tuple[str, float | None, float | None]
"""A station as (code, latitude, longitude); either coordinate may be unknown."""


def stations_in_message(
    message: CapMessage,
    stations: Iterable[StationPoint],
    geocode_stations: Mapping[Geocode, Sequence[str]] | None = None,
) -> list[str]:
    """The codes of the stations inside any area of any info block of `message`, sorted."""
    return stations_in_areas(message.areas, stations, geocode_stations)


def stations_in_areas(
    areas: Iterable[CapArea],
    stations: Iterable[StationPoint],
    geocode_stations: Mapping[Geocode, Sequence[str]] | None = None,
) -> list[str]:
    """The codes of the stations inside any of `areas`, sorted.

    A station is inside an area when its coordinates fall in one of the area's polygons or
    circles, or when the area has a geocode that `geocode_stations` maps to its code. Codes
    in that table that are not among `stations` are left out.
    """
    stations = list(stations)
    known = {code for code, _, _ in stations}
    located = [
        (code, lat, lon) for code, lat, lon in stations if lat is not None and lon is not None
    ]
    codes = np.array([code for code, _, _ in located], dtype=object)
    latitudes = np.array([lat for _, lat, _ in located], dtype=np.float64)
    longitudes = np.array([lon for _, _, lon in located], dtype=np.float64)
    table = geocode_stations or {}
    matched: set[str] = set()
    for area in areas:
        inside = np.zeros(len(located), dtype=np.bool_)
        for polygon in area.polygons:
            inside |= in_polygon(polygon, latitudes, longitudes)
        for circle in area.circles:
            inside |= in_circle(circle, latitudes, longitudes)
        matched.update(str(code) for code in codes[inside])
        for geocode in area.geocodes:
            matched.update(code for code in table.get(geocode, ()) if code in known)
    return sorted(matched)


def in_polygon(
    polygon: Polygon, latitudes: NDArray[np.float64], longitudes: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """For each point, whether it is inside the polygon or on its boundary."""
    corners_lon = np.array([lon for _, lon in polygon], dtype=np.float64)
    corners_lat = np.array([lat for lat, _ in polygon], dtype=np.float64)
    crosses = np.ptp(corners_lon) > _HALF_TURN
    if crosses:  # draw it in 0..360 instead, and look at each point there too
        corners_lon = np.where(corners_lon < 0, corners_lon + 2 * _HALF_TURN, corners_lon)
    shape = shapely.Polygon(np.column_stack([corners_lon, corners_lat]))
    shapely.prepare(shape)
    inside = _within_edge(shape, longitudes, latitudes)
    if crosses:
        inside |= _within_edge(shape, longitudes + 2 * _HALF_TURN, latitudes)
    return inside


def in_circle(
    circle: CapCircle, latitudes: NDArray[np.float64], longitudes: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """For each point, whether its great-circle distance to the centre is at most the radius."""
    distances = great_circle_km(circle.latitude, circle.longitude, latitudes, longitudes)
    result: NDArray[np.bool_] = distances <= circle.radius_km
    return result


def great_circle_km(
    latitude: float,
    longitude: float,
    latitudes: NDArray[np.float64],
    longitudes: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The haversine distance in kilometres from one point to each of many, on the sphere."""
    lat1, lon1 = np.radians(latitude), np.radians(longitude)
    lat2, lon2 = np.radians(latitudes), np.radians(longitudes)
    half_chord = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    angle = 2 * np.arcsin(np.sqrt(np.clip(half_chord, 0.0, 1.0)))
    result: NDArray[np.float64] = EARTH_RADIUS_KM * angle
    return result


def _within_edge(
    shape: shapely.Polygon, longitudes: NDArray[np.float64], latitudes: NDArray[np.float64]
) -> NDArray[np.bool_]:
    if not len(longitudes):
        return np.zeros(0, dtype=np.bool_)
    points = shapely.points(longitudes, latitudes)
    return np.asarray(shapely.dwithin(shape, points, EDGE_TOLERANCE_DEGREES), dtype=np.bool_)
