"""The sandboxed templates: compile-time checks, rendering to argv, and sandbox refusals."""

from __future__ import annotations

from typing import Any

import pytest

from runner.errors import RunnerError, TemplateRenderError
from runner.templating import (
    ITEM_NAMES,
    STEP_NAMES,
    FixedView,
    ItemView,
    compile_template,
    render_argv,
    render_text,
)


def _context(item_id: str = "alice@example.com", **attributes: str) -> dict[str, Any]:
    return {
        "item": ItemView(item_id, attributes),
        "task": {"name": "nightly"},
        "run": {"id": "run-1", "fire_time": "2024-01-01T18:00:00Z"},
        "attempt": 2,
        "env": {"HOME": "/home/ops"},
    }


class TestNames:
    def test_item_names(self) -> None:
        """Definitions may use item, task, run, attempt and env."""
        assert frozenset({"item", "task", "run", "attempt", "env"}) == ITEM_NAMES

    def test_step_names(self) -> None:
        """Steps have no item or attempt: task, run and env only."""
        assert frozenset({"task", "run", "env"}) == STEP_NAMES


class TestCompileTemplate:
    def test_compiles_a_valid_template(self) -> None:
        """A valid template compiles and renders."""
        template = compile_template("--mailbox={{ item.id }}", ITEM_NAMES)
        assert "--mailbox=a" == template.render(item=ItemView("a"))

    def test_is_cached(self) -> None:
        """Compiling the same source with the same names twice gives the same object."""
        first = compile_template("{{ task.name }}-x", STEP_NAMES)
        assert first is compile_template("{{ task.name }}-x", set(STEP_NAMES))

    def test_unknown_name_lists_the_available_ones(self) -> None:
        """A misspelt top-level name is refused, listing the names in their documented order."""
        with pytest.raises(ValueError) as caught:
            compile_template("{{ itme.id }}", ITEM_NAMES)
        message = str(caught.value)
        assert "unknown name 'itme'; available: item, task, run, attempt, env" in message
        assert "did you mean 'item'?" in message

    def test_step_templates_cannot_use_item(self) -> None:
        """`item` is unknown in a step template."""
        with pytest.raises(ValueError, match=r"unknown name 'item'; available: task, run, env"):
            compile_template("{{ item.id }}", STEP_NAMES)

    def test_syntax_error_is_explained(self) -> None:
        """An unclosed expression is a syntax error naming the template."""
        with pytest.raises(ValueError, match=r"template '\{\{ item.id ' has a syntax error"):
            compile_template("{{ item.id ", ITEM_NAMES)

    def test_syntax_error_in_a_multi_line_template_names_the_line(self) -> None:
        """A syntax error in a multi-line script names its line."""
        with pytest.raises(ValueError, match=r"\(line 2\)"):
            compile_template("echo one\n{% if %}\n", ITEM_NAMES)

    def test_unknown_filter_is_refused_at_compile_time(self) -> None:
        """A filter that does not exist fails compilation, not the first run."""
        with pytest.raises(ValueError, match=r"(?i)no filter named 'nosuch'"):
            compile_template("{{ item.id | nosuch }}", ITEM_NAMES)

    def test_names_bound_inside_the_template_are_not_unknown(self) -> None:
        """Loop and set variables are the template's own, not undeclared names."""
        source = "{% set x = item.id %}{% for c in x %}{{ c }}{% endfor %}"
        assert "ab" == compile_template(source, ITEM_NAMES).render(item=ItemView("ab"))

    def test_plain_text_is_a_template(self) -> None:
        """Text without markup compiles and renders unchanged."""
        assert "--verbose" == compile_template("--verbose", STEP_NAMES).render()


class TestRenderArgv:
    def test_renders_each_element_to_one_argument(self) -> None:
        """Each element gives exactly one argv string."""
        argv = render_argv(
            ["./replicate", "--mailbox", "{{ item.id }}", "--server", "{{ item.server }}"],
            _context(server="ex02"),
        )
        assert ["./replicate", "--mailbox", "alice@example.com", "--server", "ex02"] == argv

    def test_item_attributes_by_key(self) -> None:
        """`item['server']` reads the same attribute as `item.server`."""
        assert ["ex02"] == render_argv(["{{ item['server'] }}"], _context(server="ex02"))

    def test_other_names(self) -> None:
        """task, run, attempt and env are readable."""
        argv = render_argv(
            ["{{ task.name }}", "{{ run.id }}", "{{ attempt }}", "{{ env.HOME }}"], _context()
        )
        assert ["nightly", "run-1", "2", "/home/ops"] == argv

    def test_shell_metacharacters_stay_one_argument(self) -> None:
        """An id such as `x; rm -rf /` is one argument, unchanged."""
        assert ["x; rm -rf /"] == render_argv(["{{ item.id }}"], _context("x; rm -rf /"))

    def test_rendered_output_is_not_rendered_again(self) -> None:
        """An item id that looks like a template renders literally."""
        assert ["{{7*7}}", "{% raw %}"] == render_argv(
            ["{{ item.id }}", "{{ item.tag }}"], _context("{{7*7}}", tag="{% raw %}")
        )

    def test_trailing_newline_is_kept(self) -> None:
        """A script ending in a newline keeps it."""
        assert ["echo hi\n"] == render_argv(["echo hi\n"], _context())

    def test_missing_attribute_names_item_and_attribute(self) -> None:
        """An item lacking an attribute fails rendering, naming the template and the attribute."""
        with pytest.raises(TemplateRenderError) as caught:
            render_argv(["--server", "{{ item.server }}"], _context("bob", site="x"))
        message = str(caught.value)
        assert "{{ item.server }}" in message
        assert "item 'bob' has no attribute 'server'" in message
        assert "its attributes: site" in message

    def test_missing_key_by_subscript(self) -> None:
        """`item['server']` on an item without it fails the same way."""
        with pytest.raises(TemplateRenderError, match=r"no attribute 'server'"):
            render_argv(["{{ item['server'] }}"], _context())

    def test_missing_mapping_key_lists_available_keys(self) -> None:
        """A missing key of another mapping lists the keys there are."""
        with pytest.raises(TemplateRenderError, match=r"'nmae'.*available: name"):
            render_argv(["{{ task.nmae }}"], _context())

    def test_name_missing_from_context(self) -> None:
        """A template naming something the context does not give is a render error."""
        with pytest.raises(TemplateRenderError, match=r"unknown name 'item'"):
            render_argv(["{{ item.id }}"], {"task": {"name": "t"}})

    def test_runtime_error_is_a_render_error(self) -> None:
        """An error raised while rendering becomes TemplateRenderError naming the template."""
        with pytest.raises(TemplateRenderError, match=r"ZeroDivisionError"):
            render_argv(["{{ attempt / 0 }}"], _context())

    def test_nul_in_output_is_refused(self) -> None:
        """A rendered value with a NUL byte cannot be an argument and is refused."""
        with pytest.raises(TemplateRenderError, match=r"NUL byte"):
            render_argv(["{{ item.bad }}"], _context(bad="a\x00b"))

    def test_render_error_is_a_runner_error(self) -> None:
        """Render errors belong to the project's exception root."""
        assert issubclass(TemplateRenderError, RunnerError)

    def test_shquote_filter_quotes_for_the_shell(self) -> None:
        """`| shquote` makes an item value one safe shell word."""
        assert ["echo 'x; rm -rf /'"] == render_argv(
            ["echo {{ item.id | shquote }}"], _context("x; rm -rf /")
        )

    def test_render_text_renders_one_template(self) -> None:
        """render_text renders a single template."""
        assert "run-1" == render_text("{{ run.id }}", _context())


class TestSandbox:
    @pytest.mark.parametrize(
        "source",
        [
            "{{ item.__class__ }}",
            "{{ ''.__class__.__mro__ }}",
            "{{ item|attr('__class__') }}",
            "{{ ''|attr('__class__')|attr('__mro__') }}",
            "{{ task.__init__.__globals__ }}",
            "{{ item._attributes }}",
            "{{ cycler.__init__.__globals__.os }}",
            "{{ env.update({'PATH': '/tmp'}) }}",
            "{{ env.clear() }}",
            "{{ task.pop('name') }}",
        ],
    )
    def test_breakouts_raise(self, source: str) -> None:
        """Dunder access, private attributes and mutating calls are refused."""
        context = _context()
        with pytest.raises(TemplateRenderError, match=r"cannot render template|is not allowed"):
            render_argv([source], context)
        assert {"HOME": "/home/ops"} == context["env"]
        assert {"name": "nightly"} == context["task"]

    @pytest.mark.parametrize(
        "source",
        [
            "{{ item.__class__ }}",
            "{{ item|attr('__class__') }}",
            "{{ item['__class__'] }}",
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        ],
    )
    def test_private_access_is_refused_when_compiled(self, source: str) -> None:
        """Reaching for internals is a config error, found when the pipeline is validated."""
        with pytest.raises(ValueError, match=r"is not allowed"):
            compile_template(source, ITEM_NAMES)

    @pytest.mark.parametrize(
        "source",
        [
            "{% set k = '__cla' ~ 'ss__' %}{{ item[k] }}",
            "{% set k = '__in' ~ 'it__' %}{{ task[k] }}",
        ],
    )
    def test_keys_built_at_render_time_meet_the_sandbox(self, source: str) -> None:
        """A private name assembled at render time passes the static check and the sandbox refuses it."""
        compile_template(source, ITEM_NAMES)
        with pytest.raises(TemplateRenderError, match=r"cannot render template"):
            render_argv([source], _context())


class TestItemView:
    def test_is_a_mapping_of_id_and_attributes(self) -> None:
        """The view maps `id` and each attribute to its value."""
        view = ItemView("a", {"server": "ex02"})
        assert {"id": "a", "server": "ex02"} == dict(view)
        assert 2 == len(view)

    def test_attributes_as_attributes(self) -> None:
        """Attributes read as Python attributes too."""
        view = ItemView("a", {"server": "ex02"})
        assert ("a", "ex02") == (view.id, view.server)

    def test_missing_attribute_raises_attribute_error(self) -> None:
        """A missing attribute raises AttributeError (so templates treat it as undefined)."""
        with pytest.raises(AttributeError):
            _ = ItemView("a").server

    def test_id_attribute_does_not_shadow_the_id(self) -> None:
        """An `id` key among the attributes is dropped; the id given wins."""
        view = ItemView("a", {"id": "b"})
        assert ("a", {}) == (view.id, dict(view.attributes))

    def test_str_is_the_id(self) -> None:
        """`{{ item }}` renders the id."""
        assert ["a"] == render_argv(["{{ item }}"], {"item": ItemView("a")})


class TestFixedNames:
    @pytest.mark.parametrize(
        ("source", "names"),
        [
            ("{{ run.nosuch }}", ITEM_NAMES),
            ("{{ run['nosuch'] }}", ITEM_NAMES),
            ("{{ task.nmae }}", STEP_NAMES),
            ("{{ attempt.number }}", ITEM_NAMES),
        ],
    )
    def test_unknown_attribute_of_a_fixed_name_is_refused_when_compiled(
        self, source: str, names: frozenset[str]
    ) -> None:
        """task, run and attempt have the same attributes for every item: a typo is a config error."""
        with pytest.raises(ValueError, match=r"is not allowed: (run|task|attempt) "):
            compile_template(source, names)

    def test_refusal_names_what_there_is_and_the_nearest(self) -> None:
        with pytest.raises(ValueError) as caught:
            compile_template("{{ run.fire_tme }}", ITEM_NAMES)
        assert "available: id, task, trigger, fire_time; did you mean run.fire_time?" in str(
            caught.value
        )

    def test_known_attributes_and_item_attributes_compile(self) -> None:
        compile_template(
            "{{ task.name }} {{ task.site }} {{ task.mode }} {{ run.id }} {{ run.task }} "
            "{{ run.trigger }} {{ run.fire_time }} {{ item.id }} {{ item.anything }} {{ env.X }}",
            ITEM_NAMES,
        )

    def test_fixed_objects_render_their_name(self) -> None:
        """`{{ task }}` is the task's name and `{{ run }}` the run's id, not a Python dict."""
        context = {
            "task": FixedView("task", {"name": "nightly", "site": "default", "mode": "recurring"}),
            "run": FixedView(
                "run", {"id": "nightly@1", "task": "nightly", "trigger": "now", "fire_time": ""}
            ),
            "env": {},
        }
        assert ["nightly", "nightly@1", "nightly default"] == render_argv(
            ["{{ task }}", "{{ run }}", "{{ task.name }} {{ task['site'] }}"], context
        )

    def test_a_fixed_view_holds_exactly_its_fields(self) -> None:
        with pytest.raises(ValueError, match="exactly the fields"):
            FixedView("task", {"name": "t"})
