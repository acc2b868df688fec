"""The `groups` section: which items a task works on, and inline members."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from runner.config.durations import PositiveDuration
from runner.config.fields import STRICT, ItemId, Name, check_item_id

_FILE_SUFFIXES: Final = (".csv", ".txt", ".jsonl")

_SHARE: Final = re.compile(r"[0-9]{1,3}%")


class Member(BaseModel):
    """One inline group member: an `id` plus string attributes (any other key, e.g. `server`)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)
    __pydantic_extra__: dict[str, str] = Field(init=False)

    id: ItemId = Field(
        description="The item's id, unique within the group: non-empty, no NUL byte, no line break."
    )

    @model_validator(mode="before")
    @classmethod
    def _attributes_are_strings(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key, value in data.items():
                if key != "id" and not isinstance(value, str):
                    raise ValueError(f"attribute {key!r} must be a string, quote it")
        return data

    @property
    def attributes(self) -> dict[str, str]:
        """The member's attributes, without `id`."""
        return dict(self.__pydantic_extra__ or {})


def _check_members(value: str | list[str | Member] | None) -> str | list[str | Member] | None:
    if value is None:
        return None
    if isinstance(value, str):
        ids = [piece.strip() for piece in value.split(";") if piece.strip()]
    else:
        ids = [entry if isinstance(entry, str) else entry.id for entry in value]
    for item_id in ids:
        check_item_id(item_id)
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            raise ValueError(f"the member {item_id!r} is listed twice; list each id once")
        seen.add(item_id)
    return value


def _check_share(value: str) -> str:
    if _SHARE.fullmatch(value) is None or int(value[:-1]) > 100:
        raise ValueError(f"{value!r} is not a percentage from 0% to 100%; write it like '50%'")
    return value


class Group(BaseModel):
    """Which items a task works on: inline members, a file, a resolver command, other groups, or
    a mix of them, minus `exclude`."""

    model_config = STRICT

    members: Annotated[str | list[str | Member] | None, AfterValidator(_check_members)] = Field(
        default=None,
        description="Inline members: a ';'-separated string of ids, or a list whose entries are "
        "ids or mappings with `id` and string attributes.",
    )
    file: str | None = Field(
        default=None,
        min_length=1,
        description="A member file relative to the pipeline directory: .csv (a header row with an "
        "`id` column; other columns are attributes), .txt (one id a line) or .jsonl (one JSON "
        "object with `id` a line).",
    )
    command: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None,
        min_length=1,
        description="A resolver command (argv list, no shell) run in the pipeline directory; it "
        'prints JSON lines ({"id": ...}) or one id a line. Its failure fails the resolution.',
    )
    timeout: PositiveDuration = Field(
        default="2m",
        validate_default=True,
        description="How long the resolver `command` may run; only allowed with `command`.",
    )
    include: list[Name] = Field(
        default_factory=list,
        description="Names of other groups whose items are added to this one (cycles are errors).",
    )
    exclude: list[ItemId] = Field(
        default_factory=list,
        description="Ids dropped from the group after every source is read.",
    )
    min_members: int = Field(
        default=0,
        ge=0,
        description="The fewest members a resolution may give. A resolution giving fewer is "
        "refused (event `group.shrink_refused`): the run goes on with the members the state "
        "already holds. 0: no minimum.",
    )
    max_drop: Annotated[str, AfterValidator(_check_share)] = Field(
        default="50%",
        description="The largest share of a task's current members one resolution may drop, as "
        "a percentage (`0%` to `100%`). A resolution dropping more (a resolver that printed "
        "nothing, a directory hiccup) is refused (event `group.shrink_refused`): the run goes on "
        "with the members the state already holds, and nothing runs again. `100%`: no limit.",
    )

    @field_validator("file")
    @classmethod
    def _file_suffix(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().endswith(_FILE_SUFFIXES):
            raise ValueError(
                f"the member file {value!r} must end in .csv, .txt or .jsonl, which say how it "
                "is read"
            )
        return value

    @property
    def max_drop_share(self) -> float:
        """`max_drop` as a fraction (0.5 for `50%`)."""
        return int(self.max_drop[:-1]) / 100

    @model_validator(mode="after")
    def _has_a_source(self) -> Group:
        if self.members is None and self.file is None and self.command is None and not self.include:
            raise ValueError("a group needs at least one source: members, file, command or include")
        if "timeout" in self.model_fields_set and self.command is None:
            raise ValueError(
                "timeout applies only to a resolver command; remove it or add `command`"
            )
        return self
