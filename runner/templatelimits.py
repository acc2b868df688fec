"""Bounds on what a template may cost: the size of every value, the numbers that size output,
the rendering time, and a stop request that interrupts rendering at once.

A one-line template (`'%0999999999d' | format(1)`, `'x' * 10**9`, `'x' | center(10**9)`) could
ask for gigabytes, and three nested `range(100000)` loops for hours, while the runner's main
loop waits. The sandbox below checks sizes *before* an operation allocates, counts every step
of the template's work (attribute reads, calls, operators, loop turns, output chunks) against a
deadline and a stop event, and refuses with TemplateLimitError. Constant parts are evaluated
when a template is compiled: a refusal then is recorded and becomes a config error.
"""

from __future__ import annotations

import re
import string
import threading
import time
from collections.abc import Callable, Iterator, Sequence, Sized
from contextlib import contextmanager
from typing import Any, Final

from jinja2.exceptions import TemplateError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

MAX_VALUE: Final = 128 * 1024
"""Most characters (or list entries) one value may hold: the kernel's limit for one argument."""

MAX_NUMBER: Final = 4096
"""Largest width, count or repetition a filter or method argument may ask for."""

MAX_INT_BITS: Final = 4096
"""Largest integer (in bits) arithmetic may produce (`10**10**8` is refused before computing)."""

RENDER_BUDGET_S: Final = 2.0
"""Longest one template may take to render."""

_PRINTF: Final = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class TemplateLimitError(TemplateError):
    """A template asked for more than the bounds allow, ran out of time, or was stopped."""


class _Budget(threading.local):
    deadline: float | None = None
    stop: threading.Event | None = None
    refusals: list[str] | None = None


_BUDGET = _Budget()


@contextmanager
def budget(seconds: float, stop: threading.Event | None) -> Iterator[None]:
    """Render within ``seconds``; ``stop`` set interrupts rendering (the runner is stopping)."""
    previous = (_BUDGET.deadline, _BUDGET.stop)
    _BUDGET.deadline, _BUDGET.stop = time.monotonic() + seconds, stop
    try:
        yield
    finally:
        _BUDGET.deadline, _BUDGET.stop = previous


@contextmanager
def compile_refusals() -> Iterator[list[str]]:
    """Collect the refusals of constant folding while compiling (Jinja hides them otherwise)."""
    previous = _BUDGET.refusals
    collected: list[str] = []
    _BUDGET.refusals = collected
    try:
        yield collected
    finally:
        _BUDGET.refusals = previous


def _refuse(message: str) -> TemplateLimitError:
    if _BUDGET.refusals is not None:
        _BUDGET.refusals.append(message)
    return TemplateLimitError(message)


def _tick() -> None:
    """One step of a template's work: stop if the runner stops or the time is up."""
    stop = _BUDGET.stop
    if stop is not None and stop.is_set():
        raise TemplateLimitError("rendering was interrupted: the runner is stopping")
    deadline = _BUDGET.deadline
    if deadline is not None and time.monotonic() > deadline:
        raise _refuse(f"rendering took longer than {RENDER_BUDGET_S:g}s; simplify the template")


def _check_value(value: object) -> object:
    if isinstance(value, str | list | tuple) and len(value) > MAX_VALUE:
        raise _refuse(
            f"a value of {len(value)} characters or entries is over the bound of {MAX_VALUE}"
        )
    return value


def _check_numbers(args: Sequence[object], kwargs: dict[str, object], what: str) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
            raise _refuse(f"{what} was given {value}, over the bound of {MAX_NUMBER}")


def _check_printf(fmt: object, args: Sequence[object]) -> None:
    """`%` formatting: widths and precisions within bounds, no `*`; the result estimated."""
    if not isinstance(fmt, str):
        return
    specs = 0
    for match in _PRINTF.finditer(fmt):
        specs += 1
        for number in match.groups():
            if number == "*":
                raise _refuse("a '*' width in a format string is not allowed; write the width")
            if number is not None and int(number) > MAX_NUMBER:
                raise _refuse(f"the format width {int(number)} is over the bound of {MAX_NUMBER}")
    _check_estimate(len(fmt) + specs * (MAX_NUMBER + _longest(args)))


def _check_str_format(fmt: str, args: Sequence[object], kwargs: dict[str, object]) -> None:
    """`str.format`: the same bounds for `{:0999999999}` and nested `{:{}}` widths."""
    fields = 0
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # the call itself reports the broken format string
    for _, _, spec, _ in parsed:
        if spec is None:
            continue
        fields += 1
        if "{" in spec:
            raise _refuse("a nested '{}' width in a format string is not allowed; write the width")
        for number in re.findall(r"\d+", spec):
            if int(number) > MAX_NUMBER:
                raise _refuse(f"the format width {int(number)} is over the bound of {MAX_NUMBER}")
    _check_estimate(len(fmt) + fields * (MAX_NUMBER + _longest([*args, *kwargs.values()])))


def _longest(values: Sequence[object]) -> int:
    return max((len(str(v)) if isinstance(v, str) else 32 for v in values), default=0)


def _check_estimate(size: int) -> None:
    if size > MAX_VALUE:
        raise _refuse(
            f"the result would hold about {size} characters, over the bound of {MAX_VALUE}"
        )


def _sized(value: object) -> int:
    return len(value) if isinstance(value, Sized) else 0


def _check_join(items: object, separator: object = "") -> None:
    if isinstance(items, list | tuple):
        _check_value(items)
        total = sum(len(v) if isinstance(v, str) else 32 for v in items)
        _check_estimate(total + len(items) * _sized(separator))


def _check_replace(text: object, old: object, new: object) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        count = text.count(old) if old else len(text) + 1
        _check_estimate(len(text) + count * max(len(new) - len(old), 0))


def _check_binop(operator: str, left: object, right: object) -> None:
    if operator in ("*", "**") and all(isinstance(v, int) for v in (left, right)):
        assert isinstance(left, int) and isinstance(right, int)
        bits = (
            left.bit_length() * right
            if operator == "**"
            else left.bit_length() + right.bit_length()
        )
        if bits > MAX_INT_BITS:
            raise _refuse(f"the number {left} {operator} {right} is too large to compute")
    elif operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int):
                _check_estimate(len(seq) * count)
    elif operator == "+":
        _check_estimate(_sized(left) + _sized(right))
    elif operator == "%":
        _check_printf(left, right if isinstance(right, tuple) else (right,))


_METHOD_CHECKS: Final[dict[str, Callable[..., None]]] = {
    "join": lambda text, items, *_: _check_join(items, text),
    "replace": lambda text, old="", new="", *_: _check_replace(text, old, new),
}


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that ticks, refuses numbers over the bound, and checks what it returns."""
    passes_context = hasattr(func, "jinja_pass_arg")  # its first argument is not a value

    def bounded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        values = list(args[1:] if passes_context else args)
        if name == "format" and values:
            _check_printf(values[0], values[1:])
        elif name == "join" and values:
            _check_join(values[0], values[1] if len(values) > 1 else "")
        elif name == "replace" and len(values) >= 3:
            _check_replace(values[0], values[1], values[2])
        elif name == "indent" and values:
            lines = str(values[0]).count("\n") + 1
            _check_numbers(values[1:], kwargs, f"the filter {name!r}")
            _check_estimate(_sized(values[0]) + lines * MAX_NUMBER)
        else:
            _check_numbers(values[1:], kwargs, f"the filter {name!r}")
        return _check_value(func(*args, **kwargs))

    if passes_context:
        bounded.jinja_pass_arg = func.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


def _bounded_range(*args: int) -> Iterator[int]:
    """`range` as the sandbox has it (at most 100,000 numbers), one tick a turn."""
    for number in safe_range(*args):
        _tick()
        yield number


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with every step counted and every allocation bounded beforehand."""

    intercepted_binops = frozenset({"*", "**", "+", "-", "/", "//", "%"})
    intercepted_unops = frozenset({"-", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _bounded_range
        self.globals.pop("lipsum", None)  # paragraphs of filler text: no use here, a size risk
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def add_filter(self, name: str, func: Callable[..., Any]) -> None:
        """Add a filter, bounded like the built-in ones."""
        self.filters[name] = _bounded_filter(name, func)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check_binop(operator, left, right)
        return _check_value(super().call_binop(context, operator, left, right))

    def call_unop(self, context: Context, operator: str, arg: Any) -> Any:
        _tick()
        return super().call_unop(context, operator, arg)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return _check_value(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return _check_value(super().getitem(obj, argument))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        target = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        name = getattr(target, "__name__", "")
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str) and name in ("format", "format_map"):
            mapping = (
                args[0] if name == "format_map" and args and isinstance(args[0], dict) else kwargs
            )
            _check_str_format(owner, args if name == "format" else (), dict(mapping))
        elif isinstance(owner, str) and name in _METHOD_CHECKS:
            _METHOD_CHECKS[name](owner, *args)
        elif __obj is not _bounded_range:  # a range is lazy and ticks each turn
            _check_numbers(args, kwargs, f"{name or 'the call'}()")
        return _check_value(super().call(__context, __obj, *args, **kwargs))


def bounded_output(chunks: Iterator[str]) -> str:
    """Join a template's output chunks, ticking and refusing output over MAX_VALUE."""
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        _tick()
        size += len(chunk)
        if size > MAX_VALUE:
            raise _refuse(f"the output is over the bound of {MAX_VALUE} characters")
        parts.append(chunk)
    return "".join(parts)
