"""The sandboxed Jinja2 environment: templates are compiled when the config is validated and
rendered, one argv element at a time, when an item or a step is launched.

Rendered output is plain text and is never rendered again, so an item id such as `{{7*7}}` or
`x; rm -rf /` reaches the process as exactly those characters, as one argument. For `shell: true`
scripts, the `shquote` filter quotes a value for /bin/sh: `{{ item.id | shquote }}`.
"""

from __future__ import annotations

import difflib
import functools
import shlex
import threading
from collections.abc import Iterator, Mapping, Sequence, Set
from typing import Final

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.utils import missing

from runner.errors import TemplateRenderError
from runner.templatelimits import (
    RENDER_BUDGET_S,
    BoundedSandbox,
    TemplateLimitError,
    bounded_output,
    budget,
    compile_refusals,
)

__all__ = [
    "FIXED_FIELDS",
    "ITEM_NAMES",
    "STEP_NAMES",
    "FixedView",
    "ItemView",
    "compile_template",
    "render_argv",
    "render_text",
]

_NAME_ORDER: Final = ("item", "task", "run", "attempt", "env")

ITEM_NAMES: Final = frozenset(_NAME_ORDER)
"""Names a definition's `command` and `env` templates may use."""

STEP_NAMES: Final = frozenset({"task", "run", "env"})
"""Names a before/after step's `run` and `env` templates may use (a step has no item)."""


FIXED_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "task": ("name", "site", "mode"),
    "run": ("id", "task", "trigger", "fire_time"),
    "attempt": (),
}
"""The names whose attributes are the same for every template, and those attributes.

`{{ task }}` renders the first one (the task's name, the run's id); `attempt` is the attempt
number and has none. A template reading any other attribute of these names is refused when the
pipeline is loaded. `item` is not here: its attributes come from the group (only `item.id` is
always there).
"""


class FixedView(Mapping[str, str]):
    """`task` or `run` as templates see it: `run.id`, `run['id']`, and `{{ run }}` is the run's id."""

    __slots__ = ("_kind", "_values")

    def __init__(self, kind: str, values: Mapping[str, str]) -> None:
        if tuple(values) != FIXED_FIELDS[kind]:
            raise ValueError(f"{kind} needs exactly the fields {FIXED_FIELDS[kind]}")
        self._kind = kind
        self._values = dict(values)

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"FixedView({self._kind!r}, {self._values!r})"

    def __str__(self) -> str:
        return self._values[FIXED_FIELDS[self._kind][0]]


class ItemView(Mapping[str, str]):
    """One item as templates see it: `item.id`, `item.server` and `item['server']`.

    A mapping of `id` plus the item's string attributes. A missing attribute raises AttributeError
    (and KeyError for `[...]`), which the strict environment turns into a render error.
    """

    __slots__ = ("_attributes", "_id")

    def __init__(self, item_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._id = item_id
        self._attributes = dict(attributes or {})
        self._attributes.pop("id", None)

    @property
    def id(self) -> str:
        """The item's id."""
        return self._id

    @property
    def attributes(self) -> Mapping[str, str]:
        """The item's attributes, without `id`."""
        return self._attributes

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._attributes[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> str:
        if key == "id":
            return self._id
        return self._attributes[key]

    def __iter__(self) -> Iterator[str]:
        yield "id"
        yield from self._attributes

    def __len__(self) -> int:
        return 1 + len(self._attributes)

    def __repr__(self) -> str:
        return f"ItemView(id={self._id!r}, attributes={self._attributes!r})"

    def __str__(self) -> str:
        return self._id


class _StrictUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose message names the missing name and what is there instead."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        name = self._undefined_name
        owner = self._undefined_obj
        if owner is missing:
            return f"{name!r} is undefined"
        if isinstance(owner, ItemView):
            present = ", ".join(sorted(owner.attributes)) or "none"
            return (
                f"item {owner.id!r} has no attribute {name!r} (its attributes: {present}); "
                "add it to the group or list it in the definition's `requires`"
            )
        if isinstance(owner, Mapping):
            keys = ", ".join(sorted(str(key) for key in owner)) or "none"
            return f"no attribute or key {name!r} here; available: {keys}"
        return f"{type(owner).__name__} value has no attribute or element {name!r}"


_ENVIRONMENT: Final = BoundedSandbox(
    undefined=_StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)
_ENVIRONMENT.add_filter("shquote", shlex.quote)


def _ordered(names: Set[str]) -> list[str]:
    known = [name for name in _NAME_ORDER if name in names]
    return known + sorted(set(names) - set(_NAME_ORDER))


def compile_template(source: str, allowed: Set[str]) -> jinja2.Template:
    """Compile `source` in the sandbox, refusing names outside `allowed`.

    Raises ValueError saying what is wrong on a syntax error (with the line), an unknown filter or
    test, or a top-level name that is not in `allowed` ("unknown name 'itme'; available: item,
    task, run, attempt, env"). Compiled templates are cached.
    """
    return _compile(source, frozenset(allowed))


@functools.lru_cache(maxsize=4096)
def _compile(source: str, allowed: frozenset[str]) -> jinja2.Template:
    try:
        tree = _ENVIRONMENT.parse(source)
        undeclared = meta.find_undeclared_variables(tree)
    except TemplateSyntaxError as exc:
        raise ValueError(_syntax_message(source, exc)) from None
    refused = _private_access(tree)
    if refused:
        raise ValueError(
            f"template {source!r}: {refused} is not allowed; templates may only read item, task, run, "
            "attempt and env values (names starting with '_' and the attr filter are refused)"
        )
    unknown_field = _unknown_fixed_field(tree)
    if unknown_field:
        raise ValueError(f"template {source!r}: {unknown_field}")
    unknown = sorted(undeclared - allowed - set(_ENVIRONMENT.globals))
    if unknown:
        available = ", ".join(_ordered(allowed))
        name = unknown[0]
        message = f"template {source!r}: unknown name {name!r}; available: {available}"
        close = difflib.get_close_matches(name, sorted(allowed), n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        raise ValueError(message)
    try:
        with compile_refusals() as refusals:  # constant parts are computed now: bounded too
            template = _ENVIRONMENT.from_string(tree)
    except TemplateSyntaxError as exc:
        raise ValueError(_syntax_message(source, exc)) from None
    if refusals:
        raise ValueError(f"template {source!r}: {refusals[0]}")
    return template


def _private_access(tree: nodes.Template) -> str | None:
    """The first reach into internals (`x.__class__`, `x['_y']`, `|attr(...)`), described; else None.

    The sandbox refuses these at render time too; refusing them when the config is validated
    puts the error where it belongs, with its file and line, instead of failing every item.
    """
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            return f"the attribute {node.attr!r}"
        if (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
            and node.arg.value.startswith("_")
        ):
            return f"the key {node.arg.value!r}"
        if isinstance(node, nodes.Filter) and node.name == "attr":
            return "the attr filter"
    return None


def _unknown_fixed_field(tree: nodes.Template) -> str | None:
    """The first read of an attribute `task`, `run` or `attempt` does not have, explained; else None."""
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        target = node.node
        if not isinstance(target, nodes.Name) or target.name not in FIXED_FIELDS:
            continue
        if isinstance(node, nodes.Getattr):
            field = node.attr
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            field = node.arg.value
        else:
            continue
        owner = target.name
        fields = FIXED_FIELDS[owner]
        if field in fields:
            continue
        if not fields:
            return f"{owner}.{field} is not allowed: {owner} is a number and has no attributes"
        message = (
            f"{owner}.{field} is not allowed: {owner} has no attribute {field!r}; "
            f"available: {', '.join(fields)}"
        )
        close = difflib.get_close_matches(field, fields, n=1)
        return message + (f"; did you mean {owner}.{close[0]}?" if close else "")
    return None


def _syntax_message(source: str, exc: TemplateSyntaxError) -> str:
    where = f" (line {exc.lineno})" if source.count("\n") else ""
    return f"template {source!r} has a syntax error{where}: {exc.message}"


def render_text(
    source: str, context: Mapping[str, object], *, stop: threading.Event | None = None
) -> str:
    """Render one template with `context`; raise TemplateRenderError naming the template and the
    problem (an undefined name or attribute, a sandbox refusal, a bound passed, a runtime error).

    Rendering is bounded in size and time (runner.templatelimits); `stop` set interrupts it.
    """
    try:
        template = compile_template(source, frozenset(context))
    except ValueError as exc:
        raise TemplateRenderError(f"{exc}; fix the template") from None
    try:
        with budget(RENDER_BUDGET_S, stop):
            text = bounded_output(template.generate(context))
    except TemplateLimitError as exc:
        raise TemplateRenderError(f"cannot render template {source!r}: {exc}") from None
    except RecursionError:
        raise TemplateRenderError(
            f"cannot render template {source!r}: it calls itself too deeply; remove the recursion"
        ) from None
    except UndefinedError as exc:
        raise TemplateRenderError(f"cannot render template {source!r}: {exc.message}") from None
    except SecurityError as exc:
        raise TemplateRenderError(
            f"cannot render template {source!r}: the sandbox refused it ({str(exc).rstrip('.')}); "
            "templates may only read item, task, run, attempt and env values"
        ) from None
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise TemplateRenderError(
            f"cannot render template {source!r}: {type(exc).__name__}: {exc}"
        ) from None
    if "\x00" in text:
        raise TemplateRenderError(
            f"template {source!r} rendered a value containing a NUL byte, "
            "which no process argument or environment value can hold; check the item's data"
        )
    return text


def render_argv(
    templates: Sequence[str], context: Mapping[str, object], *, stop: threading.Event | None = None
) -> list[str]:
    """Render each element of an argv list (or of env values) with `context`.

    Each element becomes exactly one string; output is never rendered again. Raises
    TemplateRenderError naming the template and the missing name or the refused access.
    """
    return [
        source if _is_literal(source) else render_text(source, context, stop=stop)
        for source in templates
    ]


def _is_literal(source: str) -> bool:
    """A template without Jinja syntax renders to itself; skip the engine for it (the hot path)."""
    return "{" not in source and "\x00" not in source
