"""Tests of runner.masking: secret values never survive masking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.masking import MASK, WHOLE_VALUE_BELOW, Masker, StreamMasker, short_secrets


class TestBuilding:
    def test_from_env_takes_the_values_of_the_named_variables(self) -> None:
        """from_env masks the values of the named variables, not their names."""
        masker = Masker.from_env(["SMTP_PASSWORD"], {"SMTP_PASSWORD": "hunter22", "OTHER": "x"})
        assert ("hunter22",) == masker.secrets

    def test_from_env_ignores_unset_and_empty_variables(self) -> None:
        """Names that are unset or empty add no secret."""
        masker = Masker.from_env(["UNSET", "EMPTY"], {"EMPTY": ""})
        assert () == masker.secrets
        assert not masker

    def test_an_empty_value_does_not_stop_the_ones_after_it(self) -> None:
        """An empty value is skipped; the values after it are still masked."""
        assert f"a {MASK} b" == Masker(["", "hunter2"]).mask_text("a hunter2 b")

    def test_a_masker_is_true_only_when_it_has_a_secret(self) -> None:
        """Callers skip masking on a false masker: only one without secrets may be false."""
        assert (True, False, False) == (bool(Masker(["s3"])), bool(Masker([])), bool(Masker([""])))

    def test_secrets_are_ordered_longest_first(self) -> None:
        """The alternation tries longer secrets first."""
        assert ("abcdef", "abc") == Masker(["abc", "abcdef"]).secrets

    def test_surrounding_whitespace_is_also_masked_without_it(self) -> None:
        """A secret with a trailing newline is masked with and without it."""
        masker = Masker(["token99\n"])
        assert "key=***" == masker.mask_text("key=token99")

    def test_repr_does_not_show_secrets(self) -> None:
        """The masker's repr never contains a secret."""
        assert "hunter22" not in repr(Masker(["hunter22"]))

    def test_longest_is_the_byte_length_of_the_longest_secret(self) -> None:
        """longest counts UTF-8 bytes, for callers masking streams in chunks."""
        assert 4 == Masker(["pässword"[:3]]).longest
        assert 0 == Masker().longest


class TestMaskText:
    def test_every_occurrence_is_replaced(self) -> None:
        """Each occurrence of a secret becomes ***."""
        masker = Masker(["hunter22"])
        assert "login *** and *** again" == masker.mask_text("login hunter22 and hunter22 again")

    def test_text_without_secrets_is_returned_unchanged(self) -> None:
        """Text with no secret in it is the same object."""
        text = "nothing to hide"
        assert Masker(["hunter22"]).mask_text(text) is text

    def test_no_secrets_returns_input_unchanged(self) -> None:
        """A masker without secrets returns its input as is."""
        text = "hunter22"
        assert Masker().mask_text(text) is text

    def test_longest_secret_wins_where_one_contains_another(self) -> None:
        """A secret containing a shorter one is masked whole, leaving no suffix behind."""
        masker = Masker(["abc", "abcdef"])
        assert "x *** y" == masker.mask_text("x abcdef y")

    def test_overlapping_occurrences_are_masked_together(self) -> None:
        """Where two secrets overlap, the whole stretch is masked."""
        masker = Masker(["abcd", "cdef"])
        assert "<***>" == masker.mask_text("<abcdef>")

    def test_adjacent_occurrences_are_masked_separately(self) -> None:
        """Back-to-back occurrences give one mask each."""
        assert "******" == Masker(["pw12"]).mask_text("pw12pw12")

    def test_regex_characters_in_secrets_are_literal(self) -> None:
        """A secret with regex syntax is matched literally."""
        masker = Masker(["a.b*c(d"])
        assert "axbbbcd ***" == masker.mask_text("axbbbcd a.b*c(d")

    def test_short_secrets_are_masked_only_as_whole_values(self) -> None:
        """A secret of one or two characters is masked where it stands alone, not inside words."""
        masker = Masker(["a", "z9"])
        assert "banana ***=*** ***, (***) z99 xz9" == masker.mask_text(
            "banana a=a z9, (z9) z99 xz9"
        )
        assert b"banana ***" == masker.mask_bytes(b"banana a")

    def test_short_secret_at_either_end_is_masked(self) -> None:
        assert "*** and ***" == Masker(["q"]).mask_text("q and q")

    @given(
        secret=st.text(alphabet="ab_1-+ \u00e9", min_size=1, max_size=2),
        before=st.text(max_size=20),
        after=st.text(max_size=20),
    )
    def test_a_short_secret_standing_alone_never_survives(
        self, secret: str, before: str, after: str
    ) -> None:
        """A short secret between non-word characters (or the ends) is always masked."""
        text = before + "\n" + secret + "\n" + after
        masked = Masker([secret]).mask_text(text)
        if MASK not in secret and secret not in MASK and secret.strip():
            assert "\n" + secret + "\n" not in masked

    @given(
        secret=st.text(min_size=WHOLE_VALUE_BELOW, max_size=12),
        before=st.text(max_size=20),
        after=st.text(max_size=20),
    )
    def test_a_secret_never_survives(self, secret: str, before: str, after: str) -> None:
        """Whatever surrounds it, the masked text no longer contains the secret."""
        masked = Masker([secret]).mask_text(before + secret + after)
        if MASK not in secret and secret not in MASK:
            assert secret not in masked


class TestMaskBytes:
    def test_utf8_encoding_of_a_secret_is_replaced(self) -> None:
        """Bytes are masked by the secret's UTF-8 encoding."""
        masker = Masker(["pässwörd"])
        assert b"pw=***\n" == masker.mask_bytes("pw=pässwörd\n".encode())

    def test_bytes_without_secrets_are_returned_unchanged(self) -> None:
        """Bytes with no secret are the same object."""
        data = b"plain output"
        assert Masker(["hunter22"]).mask_bytes(data) is data

    def test_overlapping_occurrences_in_bytes_are_masked_together(self) -> None:
        """Overlap handling is the same for bytes."""
        assert b"***" == Masker(["abcd", "cdef"]).mask_bytes(b"abcdef")

    def test_a_three_character_secret_is_masked_inside_words(self) -> None:
        """At WHOLE_VALUE_BELOW characters a secret is masked inside longer words in bytes too."""
        assert WHOLE_VALUE_BELOW == 3
        assert b"x***y" == Masker(["abc"]).mask_bytes(b"xabcy")

    def test_an_undecodable_environment_byte_is_masked_as_that_byte(self) -> None:
        """A secret read from the environment with a non-UTF-8 byte is found in raw output."""
        secret = b"pass\xffword".decode("utf-8", "surrogateescape")
        assert b"pw=*** ok" == Masker([secret]).mask_bytes(b"pw=pass\xffword ok")

    def test_a_secret_with_a_lone_surrogate_is_still_masked_in_text(self) -> None:
        """A surrogate no decoding produces does not stop the masker from being built."""
        assert "pw=***" == Masker(["ab\ud800cd"]).mask_text("pw=ab\ud800cd")


class TestMaskValue:
    def test_nested_strings_are_masked(self) -> None:
        """Strings inside dicts, lists and tuples are masked, keys included."""
        masker = Masker(["hunter22"])
        value = {"argv": ["--pw", "hunter22"], "pair": ("hunter22", 3), "hunter22": None}
        expected = {"argv": ["--pw", "***"], "pair": ("***", 3), "***": None}
        assert expected == masker.mask_value(value)

    def test_input_is_not_modified(self) -> None:
        """Masking copies containers instead of changing them."""
        value = {"argv": ["hunter22"]}
        Masker(["hunter22"]).mask_value(value)
        assert {"argv": ["hunter22"]} == value

    def test_non_string_keys_are_kept_as_they_are(self) -> None:
        """A dict keyed by numbers (exit codes, counts) is masked in its values only."""
        assert {3: "***", None: "ok"} == Masker(["hunter22"]).mask_value(
            {3: "hunter22", None: "ok"}
        )

    def test_other_values_pass_through(self) -> None:
        """Numbers, None and objects are returned as they are."""
        marker = object()
        masker = Masker(["hunter22"])
        assert [1, 2.5, None, True, marker] == masker.mask_value([1, 2.5, None, True, marker])

    def test_bytes_values_are_masked_as_bytes(self) -> None:
        """A bytes value inside a structure is masked too."""
        assert [b"***"] == Masker(["hunter22"]).mask_value([b"hunter22"])

    def test_without_secrets_the_same_object_comes_back(self) -> None:
        """No secrets: the value itself is returned, not a copy."""
        value = {"a": ["b"]}
        assert Masker().mask_value(value) is value


class TestStreamMasker:
    def test_without_secrets_the_stream_passes_through(self) -> None:
        """A stream masker over a masker with no secrets holds nothing back and changes nothing."""
        stream = StreamMasker(Masker([]))
        assert (b"abc", b"def", b"") == (stream.feed(b"abc"), stream.feed(b"def"), stream.flush())

    @pytest.mark.parametrize(
        "text",
        [
            b"password hunter2 here",
            b"hunter2",
            b"xhunter2hunter2x",
            b"hunte hunter hunter2",
            b"long secret hunter2-and-more, short hunter2",
        ],
    )
    def test_masker_masks_at_every_split(self, text: bytes) -> None:
        """A secret is masked wherever the stream is split into reads."""
        secrets = ["hunter2", "hunter2-and-more"]
        expected = Masker(secrets).mask_bytes(text)
        for cut in range(len(text) + 1):
            masker = StreamMasker(Masker(secrets))
            actual = masker.feed(text[:cut]) + masker.feed(text[cut:]) + masker.flush()
            assert expected == actual

    @pytest.mark.parametrize("text", [b"banana a", b"a ab a", b"xa a_ a", b"aaa"])
    def test_short_secret_rule_holds_at_every_split(self, text: bytes) -> None:
        """The whole-value test of a short secret sees across the split."""
        expected = Masker(["a", "hunter2"]).mask_bytes(text)
        for cut in range(len(text) + 1):
            masker = StreamMasker(Masker(["a", "hunter2"]))
            actual = masker.feed(text[:cut]) + masker.feed(text[cut:]) + masker.flush()
            assert expected == actual

    @pytest.mark.parametrize("text", [b"-xy", b"ax-y", b"ax-", b"-x-y"])
    def test_short_secret_rule_holds_for_every_piecing(self, text: bytes) -> None:
        """A short secret next to a split is judged by the bytes on both sides, never twice.

        Each way of cutting the text into pieces (every byte a possible cut) gives the
        output of masking the whole text at once.
        """
        expected = Masker(["x"]).mask_bytes(text)
        for cuts in range(2 ** (len(text) - 1)):
            pieces: list[bytes] = []
            start = 0
            for i in range(1, len(text)):
                if cuts >> (i - 1) & 1:
                    pieces.append(text[start:i])
                    start = i
            pieces.append(text[start:])
            masker = StreamMasker(Masker(["x"]))
            actual = b"".join(masker.feed(p) for p in pieces) + masker.flush()
            assert expected == actual, pieces

    @pytest.mark.parametrize("secrets", [[], ["hunter2"]])
    def test_a_second_flush_gives_nothing_more(self, secrets: list[str]) -> None:
        """Flushing an ended stream again writes nothing, with or without secrets."""
        stream = StreamMasker(Masker(secrets))
        stream.feed(b"tail hunter2")
        stream.flush()
        assert b"" == stream.flush()

    def test_masker_byte_by_byte(self) -> None:
        """Fed one byte at a time, the output equals masking the whole text."""
        text = b"a hunter2-and-more b hunter2 c hunter"
        masker = StreamMasker(Masker(["hunter2", "hunter2-and-more"]))
        actual = b"".join(masker.feed(text[i : i + 1]) for i in range(len(text))) + masker.flush()
        assert b"a *** b *** c hunter" == actual


class TestShortSecrets:
    def test_names_of_secrets_masked_only_as_whole_values(self) -> None:
        env = {"ONE": "x", "TWO": "ab\n", "LONG": "abc", "EMPTY": ""}
        assert ["ONE", "TWO"] == short_secrets(["ONE", "TWO", "LONG", "EMPTY", "UNSET"], env)
