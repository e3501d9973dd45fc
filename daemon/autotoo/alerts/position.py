"""A checked sky position, shared by the three parsers.

Every format ends here so that one set of rules applies: ICRS degrees in range, the error as a
circle radius in degrees (for an ellipse, the semi-major axis: the smallest circle that holds
it), a zero or negative error meaning "not stated", and an error of 180 deg or more meaning
"no position".
"""

from __future__ import annotations

from dataclasses import dataclass

from autotoo.alerts.errors import AlertParseError
from autotoo.alerts.model import Ellipse
from autotoo.alerts.values import (
    WHOLE_SKY_DEG,
    check_error,
    check_radec,
    ellipse_from,
    finite,
    separation_deg,
)


@dataclass(frozen=True, slots=True)
class Position:
    ra: float | None = None
    dec: float | None = None
    error_deg: float | None = None
    ellipse: Ellipse | None = None


NO_POSITION = Position()


def make_position(
    ra: object,
    dec: object,
    error: float | None = None,
    ellipse: Ellipse | None = None,
) -> Position:
    """Validate a position; ``ra``/``dec`` both ``None`` means the alert has none."""
    if ra is None and dec is None:
        return NO_POSITION
    if ra is None or dec is None:
        raise AlertParseError("position has only one of ra and dec")
    checked_ra, checked_dec = check_radec(finite(ra, "ra"), finite(dec, "dec"))
    if ellipse is not None:
        error = max(ellipse.a_deg, ellipse.b_deg)
    radius = check_error(error)
    if radius is not None and radius >= WHOLE_SKY_DEG:
        return NO_POSITION
    return Position(checked_ra, checked_dec, radius, ellipse)


def error_from_gcn(
    value: object, field: str = "ra_dec_error"
) -> tuple[float | None, Ellipse | None]:
    """gcn-schema ``ra_dec_error``: a radius, ``[radius]``, ``[a, b]`` or ``[a, b, pa]``."""
    if value is None:
        return None, None
    if isinstance(value, list):
        numbers = [finite(v, field) for v in value]
        if len(numbers) == 1:
            return numbers[0], None
        if len(numbers) in {2, 3}:
            pa = numbers[2] if len(numbers) == 3 else 0.0
            return None, ellipse_from(numbers[0], numbers[1], pa, field)
        raise AlertParseError(f"{field} has {len(numbers)} elements, expected 1 to 3")
    return finite(value, field), None


def error_from_corners(ra: object, dec: object, corners: object) -> float | None:
    """MAXI ``rectangular_error_corners``: the circle about (ra, dec) through the far corner."""
    if not isinstance(corners, list) or not corners or ra is None or dec is None:
        return None
    center_ra, center_dec = finite(ra, "ra"), finite(dec, "dec")
    radius = 0.0
    for corner in corners:
        if not isinstance(corner, list) or len(corner) != 2:
            raise AlertParseError("rectangular_error_corners entry is not an [ra, dec] pair")
        corner_ra, corner_dec = check_radec(
            finite(corner[0], "corner ra"), finite(corner[1], "corner dec")
        )
        radius = max(radius, separation_deg(center_ra, center_dec, corner_ra, corner_dec))
    return radius
