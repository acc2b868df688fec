"""Limits per attribute: the admission rule (property tests), the store's exclusion and count of
running items (held equal to the rule), and the `limits` key's validation."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.config.loader import load_pipeline
from runner.domain.limits import (
    Limit,
    Room,
    admit,
    count_running,
    describe,
    full_values,
    holding,
    widen,
    without,
)
from runner.domain.runs import PHASE_ITEMS, RUN_RUNNING, TRIGGER_NOW
from runner.errors import ConfigError
from runner.state import AttemptStart, RunRow, open_store

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
VALUES = st.sampled_from(["a", "b", "c", None])
LIMITS = st.lists(
    st.builds(Limit, st.sampled_from(["server", "zone"]), st.integers(min_value=1, max_value=3)),
    max_size=2,
    unique_by=lambda limit: limit.per,
)


@dataclass(frozen=True)
class Candidate:
    item_id: str
    attributes: dict[str, str]


def attributes(server: str | None, zone: str | None) -> dict[str, str]:
    found = {"server": server, "zone": zone}
    return {k: v for k, v in found.items() if v is not None}


CANDIDATES = st.lists(st.tuples(VALUES, VALUES), max_size=12).map(
    lambda pairs: [Candidate(f"i{n}", attributes(s, z)) for n, (s, z) in enumerate(pairs)]
)
RUNNING = st.lists(st.tuples(VALUES, VALUES), max_size=6).map(
    lambda pairs: [attributes(s, z) for s, z in pairs]
)


class TestAdmit:
    @PROPERTY
    @given(CANDIDATES, LIMITS, RUNNING, st.integers(min_value=0, max_value=8))
    def test_order_caps_and_no_starvation(
        self,
        candidates: list[Candidate],
        limits: list[Limit],
        running_items: list[dict[str, str]],
        free: int,
    ) -> None:
        """Admitted items keep their order, never exceed a cap (counting the running ones), and
        every candidate skipped before the last admitted one (or while slots stayed free) was
        held back by a limit at its turn."""
        running = count_running(running_items, limits)
        chosen = admit(candidates, limits, running, free)
        assert len(chosen) <= free
        positions = [candidates.index(c) for c in chosen]
        assert positions == sorted(positions)
        after = count_running([*running_items, *(c.attributes for c in chosen)], limits)
        for (per, value), count in after.items():
            most = next(limit.most for limit in limits if limit.per == per)
            assert count <= max(most, running.get((per, value), 0))
        counts = dict(running)
        taken = {c.item_id for c in chosen}
        for candidate in candidates:
            if candidate.item_id in taken:
                for limit in limits:
                    key = (limit.per, candidate.attributes.get(limit.per, ""))
                    counts[key] = counts.get(key, 0) + 1
                continue
            if (
                len([c for c in chosen if candidates.index(c) < candidates.index(candidate)])
                >= free
            ):
                break
            assert holding(candidate.attributes, limits, counts) is not None

    def test_without_limits_it_is_the_first_free(self) -> None:
        candidates = [Candidate(f"i{n}", {}) for n in range(5)]
        assert candidates[:3] == admit(candidates, [], {}, 3)

    def test_missing_attribute_counts_under_the_empty_value(self) -> None:
        limit = Limit("server", 1)
        running = count_running([{}], [limit])
        assert {("server", ""): 1} == running
        assert (limit, "", 1) == holding({}, [limit], running)
        assert holding({"server": "x"}, [limit], running) is None
        assert "limit server=(none): 1 of 1 running" == describe(limit, "", 1)
        assert "limit server=imap1: 2 of 2 running" == describe(Limit("server", 2), "imap1", 2)

    def test_full_values(self) -> None:
        limits = [Limit("server", 2), Limit("zone", 1)]
        running = {("server", "a"): 2, ("server", "b"): 1, ("zone", "z"): 1}
        assert {"server": {"a"}, "zone": {"z"}} == full_values(limits, running)


class TestLookahead:
    def test_widen_gives_each_value_its_share_of_the_lookahead(self) -> None:
        """ahead x most / cap more per value, at least 1, at most the whole lookahead."""
        limits = [Limit("server", 1), Limit("zone", 4)]
        assert [Limit("server", 6), Limit("zone", 14)] == widen(limits, 10, 2)
        assert [Limit("server", 2), Limit("zone", 5)] == widen(limits, 1, 8)

    def test_without_never_goes_below_zero(self) -> None:
        counts = {("server", "a"): 3, ("server", "b"): 1}
        assert {("server", "a"): 1} == without(counts, {("server", "a"): 2, ("server", "b"): 2})

    @PROPERTY
    @given(
        LIMITS,
        RUNNING,
        st.lists(st.tuples(st.booleans(), st.tuples(VALUES, VALUES)), max_size=30),
    )
    def test_room_never_lets_more_run_than_the_limit_leaves(
        self,
        limits: list[Limit],
        elsewhere: list[dict[str, str]],
        steps: list[tuple[bool, tuple[str | None, str | None]]],
    ) -> None:
        """Launching only what `fits`, this runner's running items plus the others' open ones
        never exceed a limit (where the others alone do not already)."""
        room = Room(limits)
        others = count_running(elsewhere, limits)
        room.set_others(others)
        running: list[dict[str, str]] = []
        for launch, (server, zone) in steps:
            item = attributes(server, zone)
            if launch:
                if room.fits(item):
                    room.take(item)
                    running.append(item)
                    assert holding(item, limits, others) is None
            elif item in running:
                running.remove(item)
                room.release(item)
            mine = count_running(running, limits)
            for limit in limits:
                for (per, value), count in mine.items():
                    if per == limit.per:
                        assert count + others.get((per, value), 0) <= limit.most
            assert room.fits(item) == (
                holding(
                    item,
                    limits,
                    {key: mine.get(key, 0) + others.get(key, 0) for key in {*mine, *others}},
                )
                is None
            )


class TestStore:
    @PROPERTY
    @given(
        servers=st.lists(VALUES, max_size=12),
        excluded=st.sets(st.sampled_from(["a", "b", "c", ""])),
        started=st.sets(st.integers(min_value=0, max_value=11)),
        limit=st.integers(min_value=0, max_value=14),
    )
    def test_exclusion_and_running_attributes(
        self, servers: list[str | None], excluded: set[str], started: set[int], limit: int
    ) -> None:
        """eligible_items(exclude=...) is the dispatch order without the excluded values (a
        missing attribute is ''); running_attributes lists exactly the started items'."""
        with (
            tempfile.TemporaryDirectory() as directory,
            open_store(Path(directory) / "s.db") as store,
        ):
            members = [
                (f"i{n}", json.dumps(attributes(server, None)), "")
                for n, server in enumerate(servers)
            ]
            store.sync_members("t", members, now=1.0)
            store.upsert_task("t", site="s", config_hash="h", modified_by="test", now=1.0)
            store.begin_run(
                RunRow(
                    "r",
                    "t",
                    "s",
                    TRIGGER_NOW,
                    None,
                    None,
                    1.0,
                    None,
                    PHASE_ITEMS,
                    RUN_RUNNING,
                    "h",
                    "",
                ),
                recurring=False,
            )
            begun = sorted(n for n in started if n < len(servers))
            store.start_attempts(
                [AttemptStart("t", f"i{n}", 1, "r", "s", "h", 2.0, "") for n in begun]
            )
            expected = [
                f"i{n}"
                for n, server in enumerate(servers)
                if n not in begun and (server or "") not in excluded
            ][:limit]
            rows = store.eligible_items(
                "t", now=3.0, in_schedule=True, limit=limit, exclude={"server": excluded}
            )
            assert expected == [row.item_id for row in rows]
            running = sorted(json.dumps(a, sort_keys=True) for a in store.running_attributes("t"))
            assert (
                sorted(json.dumps(attributes(servers[n], None), sort_keys=True) for n in begun)
                == running
            )


PIPELINE = """\
version: 1
groups:
  g: {members: [{id: a, server: s1, zone: z1}, {id: b, server: s2}]}
  listed: {members: "a;b"}
  elsewhere: {include: [g]}
definitions:
  d: {command: ["true"]}
tasks:
  t:
    definition: d
    group: GROUP
    limits: LIMITS
"""


class TestConfig:
    def test_valid(self, tmp_path: Path) -> None:
        path = tmp_path / "p.yaml"
        text = PIPELINE.replace("GROUP", "g")
        path.write_text(text.replace("LIMITS", "[{per: server, max: 2}, {per: zone, max: 5}]"))
        task = load_pipeline(path).tasks["t"]
        assert [Limit("server", 2), Limit("zone", 5)] == [e.limit() for e in task.limits]

    @pytest.mark.parametrize(
        ("limits", "message"),
        [
            ("[{per: server, max: 0}]", "must be at least 1"),
            ("[{per: server}]", "max"),
            ("[{per: 'bad name', max: 1}]", "per"),
            ("[{per: server, max: 1}, {per: server, max: 2}]", "two limits per 'server'"),
            ("[{per: server, max: 1, nosuch: 2}]", "nosuch"),
        ],
    )
    def test_refused_with_a_located_message(
        self, tmp_path: Path, limits: str, message: str
    ) -> None:
        path = tmp_path / "p.yaml"
        path.write_text(PIPELINE.replace("GROUP", "g").replace("LIMITS", limits))
        with pytest.raises(ConfigError) as caught:
            load_pipeline(path)
        issues = [
            f"{i.location.line}: {i.message} ({i.location.key_path})" for i in caught.value.issues
        ]
        assert 1 == len(issues), issues
        assert issues[0].startswith("12: "), issues
        assert message in issues[0], issues

    def test_the_attribute_must_come_from_inline_members(self, tmp_path: Path) -> None:
        """Inline members that lack the attribute are refused, with the ones they have; a group
        with other sources (include, file, command) is checked only at run time."""
        path = tmp_path / "p.yaml"
        path.write_text(PIPELINE.replace("GROUP", "g").replace("LIMITS", "[{per: sevrer, max: 1}]"))
        with pytest.raises(ConfigError) as caught:
            load_pipeline(path)
        (issue,) = caught.value.issues
        assert ("tasks.t.limits[0].per", 12) == (issue.location.key_path, issue.location.line)
        assert (
            "group 'g' supplies no attribute 'sevrer' (its members have: server, zone); every "
            "item would count under the empty value; did you mean 'server'?"
        ) == issue.message
        path.write_text(
            PIPELINE.replace("GROUP", "listed").replace("LIMITS", "[{per: server, max: 1}]")
        )
        with pytest.raises(ConfigError) as caught:
            load_pipeline(path)
        assert "(its members have: none)" in caught.value.issues[0].message
        path.write_text(
            PIPELINE.replace("GROUP", "elsewhere").replace("LIMITS", "[{per: anything, max: 1}]")
        )
        assert load_pipeline(path).tasks["t"].limits
