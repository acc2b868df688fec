"""Durations: the written forms, their display, and the pydantic types built on them."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from runner.config.durations import (
    DURATION_PATTERN,
    MAX_STEP_TIMEOUT,
    Duration,
    PositiveDuration,
    StepTimeout,
    parse_duration,
)
from runner.domain.timefmt import format_duration


class TestParseDuration:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("90s", 90.0),
            ("10m", 600.0),
            ("1h30m", 5400.0),
            ("2d", 172_800.0),
            ("1d2h3m4s", 93_784.0),
            ("1d4s", 86_404.0),
            ("0s", 0.0),
            ("120m", 7200.0),
            ("01:30:00", 5400.0),
            ("1:2:3", 3723.0),
            ("00:00:00", 0.0),
            ("99:99:99", 362_439.0),
            (0, 0.0),
            (90, 90.0),
        ],
    )
    def test_accepts_written_forms(self, text: str | int, expected: float) -> None:
        """Every documented form gives its number of seconds as a float."""
        assert expected == parse_duration(text)

    def test_longest_clock_form_is_the_step_ceiling(self) -> None:
        """`99:99:99` is exactly MAX_STEP_TIMEOUT, 362,439 seconds."""
        assert 362_439 == MAX_STEP_TIMEOUT
        assert float(MAX_STEP_TIMEOUT) == parse_duration("99:99:99")

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "5",
            "1.5h",
            "-5s",
            "1h1h",
            "30m1h",
            "1s2m",
            "1 h",
            " 5s",
            "5s ",
            "5S",
            "1w",
            "h",
            "1:2",
            "12:30",
            "1:2:3:4",
            "100:00:00",
            "1:100:00",
            "٣s",
            "1234567890s",
        ],
    )
    def test_rejects_other_text(self, text: str) -> None:
        """Text outside the documented forms is refused with a message listing them."""
        with pytest.raises(ValueError, match=r"not a duration") as caught:
            parse_duration(text)
        assert "1h30m" in str(caught.value) or "99:99:99" in str(caught.value)

    def test_long_clock_field_message_names_the_ceiling(self) -> None:
        """A clock form with a 3-digit field says each field has at most 2 digits."""
        with pytest.raises(ValueError, match=r"1 or 2 digits.*99:99:99 \(362439 s\)"):
            parse_duration("100:00:00")

    @pytest.mark.parametrize("value", [True, False, -1, 1.5, None, [90]])
    def test_rejects_other_types(self, value: object) -> None:
        """Booleans, negative ints, floats and other types are not durations."""
        with pytest.raises(ValueError, match=r"duration"):
            parse_duration(value)  # type: ignore[arg-type]

    def test_huge_int_is_refused_not_overflowing(self) -> None:
        """An int too large for a float gives a ValueError, not an OverflowError."""
        with pytest.raises(ValueError, match=r"too large"):
            parse_duration(10**400)


class TestFormatDuration:
    @pytest.mark.parametrize(
        ("seconds", "expected"),
        [
            (0, "0s"),
            (45, "45s"),
            (90, "1m30s"),
            (600, "10m"),
            (5400, "1h30m"),
            (172_800, "2d"),
            (93_784, "1d2h3m4s"),
            (362_439, "4d4h40m39s"),
            (0.25, "0.25s"),
            (61.5, "1m1.5s"),
            (3600.0004, "1h"),
        ],
    )
    def test_compact_form(self, seconds: float, expected: str) -> None:
        """Seconds are shown in the shortest unit form, fractions to the millisecond."""
        assert expected == format_duration(seconds)

    @pytest.mark.parametrize("seconds", [-1, math.nan, math.inf])
    def test_rejects_negative_and_non_finite(self, seconds: float) -> None:
        """Negative, NaN and infinite values cannot be formatted."""
        with pytest.raises(ValueError, match=r"cannot format"):
            format_duration(seconds)

    @given(st.integers(min_value=0, max_value=10**12))
    def test_whole_seconds_round_trip(self, seconds: int) -> None:
        """Formatting whole seconds and parsing the text back gives the same value."""
        assert float(seconds) == parse_duration(format_duration(seconds))


class TestDurationPattern:
    @given(st.text(alphabet="0123456789dhms:", max_size=14))
    def test_pattern_accepts_exactly_what_the_parser_accepts(self, text: str) -> None:
        """The JSON Schema pattern and parse_duration agree on every string."""
        try:
            parse_duration(text)
            parsed = True
        except ValueError:
            parsed = False
        assert parsed == (re.search(DURATION_PATTERN, text) is not None)


class TestDurationTypes:
    def test_duration_field_holds_float_seconds(self) -> None:
        """A Duration field validates `1h30m` to 5400.0."""
        assert 5400.0 == TypeAdapter(Duration).validate_python("1h30m")

    def test_duration_allows_zero(self) -> None:
        """A plain Duration accepts zero (e.g. no backoff)."""
        assert 0.0 == TypeAdapter(Duration).validate_python(0)

    def test_positive_duration_refuses_zero(self) -> None:
        """A PositiveDuration refuses zero, which would fire at once."""
        with pytest.raises(ValidationError, match=r"longer than zero"):
            TypeAdapter(PositiveDuration).validate_python("0s")

    def test_positive_duration_refusal_says_what_to_write(self) -> None:
        """The refusal of zero says what is wrong and gives durations to write instead."""
        with pytest.raises(ValidationError) as caught:
            TypeAdapter(PositiveDuration).validate_python("0s")
        (error,) = caught.value.errors()
        assert "Value error, must be longer than zero; write for example 30s or 10m" == error["msg"]

    def test_positive_duration_accepts_one_second(self) -> None:
        """The shortest positive duration an operator can write, `1s`, is accepted."""
        assert 1.0 == TypeAdapter(PositiveDuration).validate_python("1s")

    def test_a_value_of_another_type_is_named_by_its_type(self) -> None:
        """`timeout: 1.5` in YAML is refused with the type it was read as."""
        with pytest.raises(ValueError, match=r"got a value of type float;"):
            parse_duration(1.5)  # type: ignore[arg-type]

    def test_duration_refuses_numeric_text(self) -> None:
        """A quoted number of seconds is not coerced: write the int or a unit."""
        with pytest.raises(ValidationError, match=r"not a duration"):
            TypeAdapter(Duration).validate_python("8")

    def test_step_timeout_accepts_the_ceiling(self) -> None:
        """A step timeout of 99:99:99 is accepted as 362,439 s."""
        assert 362_439.0 == TypeAdapter(StepTimeout).validate_python("99:99:99")

    @pytest.mark.parametrize("value", [362_440, "101h", "4d4h40m40s"])
    def test_step_timeout_refuses_one_second_more(self, value: str | int) -> None:
        """Anything over 99:99:99 (one second more, or units) is refused, saying the ceiling."""
        with pytest.raises(ValidationError, match=r"at most 99:99:99 \(362439 s\)"):
            TypeAdapter(StepTimeout).validate_python(value)

    def test_json_schema_is_string_pattern_or_non_negative_int(self) -> None:
        """Duration's JSON schema is the written pattern or an integer >= 0."""
        expected = {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "integer", "minimum": 0},
            ]
        }
        assert expected == TypeAdapter(Duration).json_schema()

    def test_step_timeout_schema_has_the_maximum(self) -> None:
        """StepTimeout's integer form is bounded by 362,439 in the schema."""
        schema = TypeAdapter(StepTimeout).json_schema()
        assert {"type": "integer", "minimum": 1, "maximum": 362_439} == schema["anyOf"][1]
