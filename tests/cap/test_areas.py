"""Matching stations to a CAP message's areas: polygons, circles on the sphere, geocodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from notifier.cap.areas import (
    EARTH_RADIUS_KM,
    StationPoint,
    great_circle_km,
    stations_in_areas,
    stations_in_message,
)
from notifier.cap.message import CapArea, CapCircle, Geocode
from notifier.cap.reading import read_cap

EXAMPLES = Path(__file__).parent / "examples"


def example_stations(
    name: str, stations: list[StationPoint], geocodes: dict[Geocode, list[str]] | None = None
) -> list[str]:
    """The stations matched by one of the specification's examples."""
    message = read_cap((EXAMPLES / f"{name}.xml").read_bytes())
    return stations_in_message(message, stations, geocodes)


def test_thunderstorm_polygon_and_geocodes() -> None:
    """A.2: inside, outside, either side of an edge, a corner, and a county by its SAME code."""
    stations: list[StationPoint] = [
        ("ALPINE", 38.49, -119.93),  # well inside
        ("CORNER", 38.52, -119.74),  # a corner of the polygon
        ("EDGE-IN", 38.43, -119.85),  # 440 m west of the edge (38.34,-119.95)-(38.52,-119.74)
        ("EDGE-OUT", 38.43, -119.84),  # 440 m east of it
        ("KIRKWOOD", 38.70, -120.07),  # north of the polygon
        ("SACRAMENTO", 38.58, -121.49),
        ("SONORA", None, None),  # Tuolumne County, SAME 006109, no coordinates
        ("MODESTO", None, None),  # Stanislaus County, SAME 006099, not in the warning
        ("NOWHERE", None, None),  # no coordinates and no geocode
    ]
    geocodes = {("SAME", "006109"): ["SONORA"], ("SAME", "006099"): ["MODESTO"]}
    assert example_stations("ThunderstormWarning", stations, geocodes) == [
        "ALPINE",
        "CORNER",
        "EDGE-IN",
        "SONORA",
    ]


def test_earthquake_circle_of_radius_zero() -> None:
    """A.3: a circle of radius 0 is its centre alone; Brawley, 3.5 km away, is outside."""
    stations: list[StationPoint] = [
        ("EPICENTRE", 32.9525, -115.5527),
        ("BRAWLEY", 32.9787, -115.5303),
        ("EL-CENTRO", 32.7920, -115.5631),
    ]
    assert example_stations("EarthquakeReport", stations) == ["EPICENTRE"]


def test_homeland_area_without_geometry_matches_nothing() -> None:
    """A.1: an area named but not drawn or coded matches no station, wherever it is."""
    stations: list[StationPoint] = [("WASHINGTON", 38.90, -77.04), ("GENEVA", 46.20, 6.14)]
    assert example_stations("HomelandAlert", stations, {("SAME", "011001"): ["WASHINGTON"]}) == []


def test_amber_alert_by_geocode_only() -> None:
    """A.4: Los Angeles County by its SAME code, in both info blocks, counted once."""
    stations: list[StationPoint] = [
        ("LA-OFFICE", 34.05, -118.24),
        ("PASADENA", None, None),
        ("SAN-FRANCISCO", 37.77, -122.42),
    ]
    geocodes = {
        ("SAME", "006037"): ["LA-OFFICE", "PASADENA", "CLOSED-STATION"],
        ("SAME", "006075"): ["SAN-FRANCISCO"],
    }
    assert example_stations("AmberAlert", stations, geocodes) == ["LA-OFFICE", "PASADENA"]


def test_a_station_without_coordinates_is_never_matched_by_geometry() -> None:
    """A circle around the whole Earth still leaves out a station with no place."""
    area = CapArea(area_desc="everywhere", circles=(CapCircle(0.0, 0.0, 30_000.0),))
    stations: list[StationPoint] = [
        ("PLACED", 10.0, 10.0),
        ("NO-LAT", None, 10.0),
        ("NO-LON", 10.0, None),
    ]
    assert stations_in_areas([area], stations) == ["PLACED"]


def test_a_degree_of_latitude_on_the_sphere() -> None:
    """The haversine distance of one degree along a meridian is 2πR/360."""
    distance = great_circle_km(0.0, 0.0, np.array([1.0]), np.array([0.0]))[0]
    assert distance == pytest.approx(2 * np.pi * EARTH_RADIUS_KM / 360, rel=1e-12)
    assert distance == pytest.approx(111.195, abs=0.001)


def test_circle_across_the_antimeridian() -> None:
    """Near Fiji, 179.9°E to 179.9°W is 21 km, not 359.8 degrees."""
    area = CapArea(area_desc="Taveuni", circles=(CapCircle(-17.7, 179.9, 30.0),))
    stations: list[StationPoint] = [
        ("WEST-OF-LINE", -17.7, 179.6),  # 31.8 km: outside
        ("EAST-OF-LINE", -17.7, -179.9),  # 21.2 km across the line: inside
        ("ON-LINE", -17.7, 180.0),  # 10.6 km: inside
        ("FAR-EAST", -17.7, -179.4),  # 74.1 km: outside
    ]
    assert stations_in_areas([area], stations) == ["EAST-OF-LINE", "ON-LINE"]


def test_circle_near_the_pole() -> None:
    """At 89.9°N the far side of the pole is 22 km away though 180 degrees of longitude apart."""
    area = CapArea(area_desc="the pole", circles=(CapCircle(89.9, 0.0, 30.0),))
    stations: list[StationPoint] = [
        ("ACROSS-THE-POLE", 89.9, 180.0),  # 0.2° of arc: 22.2 km
        ("POLE", 90.0, 0.0),  # 11.1 km
        ("SAME-MERIDIAN-SOUTH", 89.6, 0.0),  # 0.3°: 33.4 km
        ("QUARTER-TURN-NEAR", 89.8, 90.0),  # 24.9 km
        ("QUARTER-TURN-FAR", 89.7, 90.0),  # 35.2 km
    ]
    assert stations_in_areas([area], stations) == ["ACROSS-THE-POLE", "POLE", "QUARTER-TURN-NEAR"]


def test_points_on_a_polygon_edge_are_inside() -> None:
    """Edges and corners count; a hair outside does not."""
    square = ((0.0, 0.0), (0.0, 10.0), (10.0, 10.0), (10.0, 0.0), (0.0, 0.0))
    slanted = ((38.47, -120.14), (38.34, -119.95), (38.52, -119.74), (38.62, -119.89))
    on_slant = ((38.34 + 38.52) / 2, (-119.95 + -119.74) / 2)  # computed in floating point
    areas = [CapArea("square", polygons=(square,)), CapArea("storm", polygons=(slanted,))]
    stations: list[StationPoint] = [
        ("ON-TOP-EDGE", 10.0, 5.0),
        ("ON-RIGHT-EDGE", 5.0, 10.0),
        ("ON-CORNER", 10.0, 10.0),
        ("ON-SLANT", *on_slant),
        ("JUST-OUTSIDE", 5.0, 10.0001),
        ("JUST-BEYOND-SLANT", on_slant[0], on_slant[1] + 0.0001),
    ]
    assert stations_in_areas(areas, stations) == [
        "ON-CORNER",
        "ON-RIGHT-EDGE",
        "ON-SLANT",
        "ON-TOP-EDGE",
    ]


def test_latitude_and_longitude_are_not_swapped() -> None:
    """A long thin polygon along a parallel: (lat, lon) read the wrong way would miss it."""
    strip = ((10.0, 20.0), (10.0, 60.0), (11.0, 60.0), (11.0, 20.0))
    stations: list[StationPoint] = [("IN-STRIP", 10.5, 40.0), ("SWAPPED", 40.0, 10.5)]
    assert stations_in_areas([CapArea("strip", polygons=(strip,))], stations) == ["IN-STRIP"]


def test_polygon_across_the_antimeridian() -> None:
    """From 178°E to 178°W the short way: both sides of the line, not the rest of the world."""
    pacific = ((-16.0, 178.0), (-16.0, -178.0), (-20.0, -178.0), (-20.0, 178.0), (-16.0, 178.0))
    stations: list[StationPoint] = [
        ("WEST-SIDE", -18.0, 179.5),
        ("EAST-SIDE", -18.0, -179.5),
        ("ON-LINE", -18.0, 180.0),
        ("ON-LINE-WEST", -18.0, -180.0),
        ("GREENWICH", -18.0, 0.0),
        ("OUTSIDE-EAST", -18.0, -177.0),
    ]
    assert stations_in_areas([CapArea("Fiji", polygons=(pacific,))], stations) == [
        "EAST-SIDE",
        "ON-LINE",
        "ON-LINE-WEST",
        "WEST-SIDE",
    ]


def test_no_stations_and_no_areas() -> None:
    """Empty in, empty out."""
    area = CapArea("x", polygons=(((0.0, 0.0), (0.0, 1.0), (1.0, 1.0)),), geocodes=(("A", "1"),))
    assert stations_in_areas([area], [], {("A", "1"): ["S"]}) == []
    assert stations_in_areas([], [("S", 0.5, 0.2)]) == []
