"""Hostile templates: each is refused before it allocates, within the time budget, or as soon as
the runner is asked to stop; ordinary templates render as before."""

from __future__ import annotations

import threading

import pytest

from runner.errors import TemplateRenderError
from runner.templatelimits import MAX_VALUE
from runner.templating import ItemView, compile_template, render_text

CONTEXT = {"item": ItemView("alice", {"server": "ex01"}), "env": {}}

SLOW = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


def refusal(source: str) -> str:
    """The message refusing ``source``, at compile time or render time."""
    try:
        compile_template(source, frozenset(CONTEXT))
    except ValueError as exc:
        return str(exc)
    with pytest.raises(TemplateRenderError) as caught:
        render_text(source, CONTEXT)
    return str(caught.value)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ '%0999999999d' | format(1) }}", "the format width 999999999 is over the bound"),
        ("{{ '%*d' | format(999999999, 1) }}", "a '*' width in a format string is not allowed"),
        ("{{ '%.999999999f' % 1.5 }}", "the format width 999999999 is over the bound"),
        ("{{ '{:0999999999}'.format(1) }}", "the format width 999999999 is over the bound"),
        ("{{ '{:{}}'.format(1, 999999999) }}", "a nested '{}' width"),
        ("{{ 'x' * 10**9 }}", "the result would hold about 1000000000 characters"),
        ("{{ ['x'] * 10**9 }}", "the result would hold about 1000000000 characters"),
        ("{{ 'x' | center(10**9) }}", "the filter 'center' was given 1000000000"),
        ("{{ 'x'.ljust(999999999) }}", "ljust() was given 999999999"),
        ("{{ 'x'.zfill(999999999) }}", "zfill() was given 999999999"),
        ("{{ 7 ** 1000000 }}", "is too large to compute"),
        ("{{ ('x' * 100000) | replace('x', 'y' * 1000) }}", "the result would hold about"),
        ("{{ (['x' * 100000] * 1000) | join }}", "the result would hold about"),
        ("{{ ('x\n' * 60000) | indent(4000) }}", "the result would hold about"),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
            f"over the bound of {MAX_VALUE}",
        ),
        (
            "{% for i in range(100) %}{{ 'x' * 4000 }}{% endfor %}",
            f"the output is over the bound of {MAX_VALUE} characters",
        ),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "it calls itself too deeply"),
        (SLOW, "rendering took longer than 2s"),
        (
            "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
            "{{ f(60) }}",
            "rendering took longer than 2s",
        ),
    ],
)
def test_hostile_template_is_refused(source: str, expected: str) -> None:
    assert expected in refusal(source)


def test_constant_format_is_refused_when_compiled() -> None:
    """The one-line `format` bomb is a config error (validate), not a 3 GB allocation."""
    with pytest.raises(ValueError, match="the format width 999999999 is over the bound"):
        compile_template("{{ '%0999999999d' | format(1) }}", frozenset(CONTEXT))


def test_a_stop_interrupts_rendering() -> None:
    """A stop request (SIGTERM) interrupts a render in progress instead of waiting for it."""
    stop = threading.Event()
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    try:
        with pytest.raises(TemplateRenderError, match="interrupted: the runner is stopping"):
            render_text(SLOW, CONTEXT, stop=stop)
    finally:
        timer.cancel()


@pytest.mark.parametrize(
    ("source", "rendered"),
    [
        ("{{ item.id | upper }}-{{ '%05d' | format(3) }}", "ALICE-00003"),
        ("{{ '{:>8}'.format(item.id) }}", "   alice"),
        ("{{ ['a', 'b'] | join(',') }}", "a,b"),
        ("{{ (item.id ~ '-') * 2 }}", "alice-alice-"),
        ("{{ item.server.replace('ex', 'mx') }}", "mx01"),
        ("{{ range(4) | list | sum }}", "6"),
        ("{{ 'a\nb' | indent(2) }}", "a\n  b"),
        ("{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
        ("{{ 2 ** 10 }}", "1024"),
        ("{{ item.id | center(9) }}", "  alice  "),
        ("{{ '%s=%s' % ('k', item.id) }}", "k=alice"),
    ],
)
def test_ordinary_templates_render(source: str, rendered: str) -> None:
    assert rendered == render_text(source, CONTEXT)
