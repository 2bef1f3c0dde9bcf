"""tessera's chat-template renderer against Python jinja2 set up the way
Hugging Face transformers renders chat templates.

Every template in the shared chat-templates folder is rendered with every
context in tests/data/chat_contexts (with add_generation_prompt on and off)
by both `tessera render-template` and the reference; outputs must be
byte-identical, and where the reference raises, tessera must fail with exit
code 2 and a one-line error (carrying the message for raise_exception).

When transformers is installed, the reference itself is checked against
transformers' own renderer, and the default model's GGUF template against
apply_chat_template.
"""

import datetime
import functools
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile

import jinja2
import jinja2.ext
import jinja2.nodes
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = pathlib.Path(__file__).resolve().parents[2]
CONTEXTS_DIR = REPO / "tests" / "data" / "chat_contexts"
# The date strftime_now() sees, in both renderers.
FIXED_NOW = datetime.datetime(2024, 7, 26, 13, 45, 7)
FIXED_NOW_ARG = "2024-07-26T13:45:07"


def _find_shared_templates():
    env = os.environ.get("TESSERA_CHAT_TEMPLATES")
    if env:
        return pathlib.Path(env)
    # ../shared/chat-templates from the repository root (CI), or from any
    # folder above it (a worktree of the repository).
    for parent in [REPO, *REPO.parents]:
        candidate = parent.parent / "shared" / "chat-templates"
        if candidate.is_dir():
            return candidate
    return None


SHARED = _find_shared_templates()
if SHARED is None or not SHARED.is_dir() or not list(SHARED.glob("*.jinja")):
    raise RuntimeError(
        "shared chat templates not found: expected ../shared/chat-templates next to the "
        "repository (or set TESSERA_CHAT_TEMPLATES)"
    )
TEMPLATES = sorted(SHARED.glob("*.jinja"))
CONTEXTS = sorted(CONTEXTS_DIR.glob("*.json"))


def tessera_bin():
    path = os.environ.get("TESSERA_BIN")
    if not path:
        pytest.fail("TESSERA_BIN is not set (ctest sets it to the built binary)")
    return path


# --- the reference: jinja2 with transformers' environment --------------------


class _GenerationTag(jinja2.ext.Extension):
    """{% generation %}...{% endgeneration %} renders its body (transformers'
    assistant-mask marker)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(
            lineno
        )

    def _render(self, caller):
        return caller()


class _Namespace(jinja2.utils.Namespace):
    """namespace() refusing underscore-prefixed attributes, as transformers'."""

    def __init__(*args, **kwargs):
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _Namespace._check(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name, value):
        _Namespace._check(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check(name):
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(f"underscore-prefixed attribute {name!r}")


def _raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def reference_environment():
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_GenerationTag, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: FIXED_NOW.strftime(fmt)
    env.globals["dict"] = lambda *a, **k: dict(*a, **k)
    env.globals["namespace"] = _Namespace
    return env


REFERENCE = reference_environment()
_compiled = {}


def reference_render(source, context):
    """("ok", text) or ("error", (exception type name, message))."""
    try:
        if source not in _compiled:
            _compiled[source] = REFERENCE.from_string(source)
        return "ok", _compiled[source].render(**context)
    except Exception as e:  # the template's own errors, whatever their type
        return "error", (type(e).__name__, str(e))


def tessera_render(template_path, context, extra_args=()):
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as f:
        json.dump(context, f, ensure_ascii=False)
        context_path = f.name
    try:
        args = [tessera_bin(), "render-template", "--context", context_path, *extra_args]
        if template_path is not None:
            args += ["--template", str(template_path)]
        env = {**os.environ, "TESSERA_TEMPLATE_NOW": FIXED_NOW_ARG}
        proc = subprocess.run(args, capture_output=True, timeout=60, env=env)
    finally:
        os.unlink(context_path)
    return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")


def load_context(path, add_generation_prompt):
    context = json.loads(path.read_text(encoding="utf-8"))
    context["add_generation_prompt"] = add_generation_prompt
    return context


def assert_same(template_path, source, context, extra_args=()):
    expected = reference_render(source, context)
    rc, stdout, stderr = tessera_render(template_path, context, extra_args)
    if expected[0] == "ok":
        assert rc == 0, f"tessera failed where jinja2 rendered: {stderr}"
        assert stderr == "", f"unexpected stderr: {stderr}"
        assert stdout.decode("utf-8") == expected[1]
    else:
        kind, message = expected[1]
        assert rc == 2, f"jinja2 raised {kind}: {message}; tessera gave rc={rc} {stdout[:200]!r}"
        assert stdout == b""
        lines = stderr.strip().split("\n")
        assert len(lines) == 1 and lines[0].startswith("error: "), stderr
        if kind == "TemplateError":  # raise_exception(): the template's own message
            assert message.replace("\n", " ") in lines[0]
    return expected[0]


# --- the shared templates x our contexts -------------------------------------


@pytest.mark.parametrize("add_generation_prompt", [True, False], ids=["gen", "nogen"])
@pytest.mark.parametrize("context_path", CONTEXTS, ids=lambda p: p.stem)
@pytest.mark.parametrize("template_path", TEMPLATES, ids=lambda p: p.stem)
def test_shared_template_matches_jinja2(template_path, context_path, add_generation_prompt):
    source = template_path.read_text(encoding="utf-8")
    context = load_context(context_path, add_generation_prompt)
    assert_same(template_path, source, context)


def test_every_template_renders_some_context():
    """Guards against a suite that only compares errors."""
    for template_path in TEMPLATES:
        source = template_path.read_text(encoding="utf-8")
        outcomes = {
            reference_render(source, load_context(c, True))[0] for c in CONTEXTS
        }
        assert "ok" in outcomes, f"{template_path.name} renders no context"


# --- small templates: semantics one at a time --------------------------------

SNIPPETS = [
    # scoping
    "{% set x = 1 %}{% for i in range(3) %}{{ x }}{% set x = x + 1 %}{{ x }},{% endfor %}{{ x }}",
    "{% if true %}{% set y = 5 %}{% endif %}{{ y }}",
    "{% macro m() %}{{ z }}{% endmacro %}{% set z = 1 %}{{ m() }}{% set z = 2 %}{{ m() }}",
    "{% set ns = namespace(a=1, b=[]) %}{% for i in range(3) %}{% set ns.a = ns.a * 2 %}"
    "{% set ns.b = ns.b + [i] %}{% endfor %}{{ ns.a }} {{ ns.b }}",
    "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }}",
    "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ b }}{% endfor %}"
    "{{ loop.index }};{% endfor %}",
    # whitespace control
    "a\n  {% if true %}\n    b\n  {% endif %}\n c",
    "a  {%- if true -%}  b  {%- endif -%}  c",
    "x {{- ' y ' -}} z\n{# comment #}\n  {#- stripped -#}  w",
    "  {%+ if true %}kept{% endif +%}\nnext",
    "{% raw %}{{ not rendered }}{% endraw %}\n{{ 'done' }}",
    "line1\r\nline2\rline3\n",
    # literals and operators
    '{{ "a\\tb\\n\\\\ \\u00e9 \\x41 \\101" }}|{{ \'it\\\'s\' }}|{{ "x" "y" }}',
    "{{ 1 + 2 * 3 }}|{{ 2 ** 3 ** 2 }}|{{ -2 ** 2 }}|{{ 7 // -2 }}|{{ -7 % 3 }}|{{ 7 / 2 }}"
    "|{{ 4 / 2 }}|{{ 1e20 }}|{{ 1e16 }}|{{ 0.1 + 0.2 }}|{{ 1.0e-5 }}|{{ 10 // 3.0 }}",
    "{{ 1_000 + 0x1f + 0o17 + 0b11 }}|{{ 1.5e3 }}|{{ 3 * 'ab' }}|{{ [0] * 3 }}|{{ 'a' ~ 1 ~ none }}",
    "{{ 1 == 1.0 }}|{{ true == 1 }}|{{ [1, 2] < [1, 3] }}|{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}"
    "|{{ 'b' > 'a' }}|{{ {'a': 1} == {'a': 1} }}|{{ (1, 2) == [1, 2] }}",
    "{{ 0 or 'x' }}|{{ '' and 1 }}|{{ [] or {} }}|{{ not none }}|{{ 1 if 0 else 2 }}",
    "{{ 'abcdef'[::-1] }}|{{ 'abcdef'[1:-1:2] }}|{{ [1, 2, 3, 4, 5][-2:] }}"
    "|{{ [1, 2, 3][::-2] }}|{{ 'héllo'[1] }}|{{ 'héllo'[-4:] }}|{{ [1, 2][5:] }}",
    # printing values the way Python's str() does
    "{{ [1, 'a', none, true, 1.5, {'k': \"it's\"}] }}|{{ ('a',) }}|{{ () }}"
    "|{{ ['a\"b\\'c', 'x\\ny', '\\u00e9\\x00\\u2028\\xa0'] }}|{{ none }}|{{ false }}",
    "{{ 1e-7 }}|{{ 123456789012345678.0 }}|{{ 1e22 }}|{{ 0.0001 }}|{{ -0.0 }}|{{ 2 ** -1 }}"
    "|{{ 1/3 }}|{{ 100.0 }}|{{ 1e15 }}",
    # undefined
    "{{ missing }}|{{ missing is defined }}|{{ missing|default('d') }}|{{ missing|length }}"
    "|{{ missing == missing }}|{{ 'x' in missing }}|{{ missing is iterable }}",
    "{{ missing.attribute }}",
    "{{ missing + 1 }}",
    "{{ {'a': 1}.b }}|{{ {'a': 1}['b'] is defined }}|{{ [1][3] }}|{{ none.x }}",
    # attribute and item lookup
    "{% set d = {'a': 1, 'items': 5} %}{{ d['items'] }}|{{ d.a }}|{{ d.items() | list }}"
    "|{{ d.get('z', 'zz') }}|{{ d.get('a') }}|{{ d.keys() | list }}|{{ d.values() | list }}",
    "{{ [1, 2].append(3) }}",
    # tests
    "{{ 10 is divisibleby 3 }}|{{ 9 is divisibleby(3) }}|{{ true is number }}"
    "|{{ true is integer }}|{{ 1.0 is integer }}|{{ {} is sequence }}|{{ 'a' is sequence }}"
    "|{{ 3 is odd }}|{{ 4 is even }}|{{ none is none }}|{{ 'A' is upper }}|{{ 'a' is lower }}"
    "|{{ {} is mapping }}|{{ 1.5 is float }}|{{ true is boolean }}|{{ false is false }}"
    "|{{ 2 is in [1, 2] }}|{{ 2 is eq 2 }}|{{ 2 is ne 2 }}|{{ 'x' is string }}",
    # filters
    "{{ '  x  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 'hello world'|title }}"
    "|{{ 'hELLO wORLD-foo(bar'|title }}|{{ 'hello WORLD'|capitalize }}|{{ 'Ab'|upper }}"
    "|{{ 'Ab'|lower }}|{{ 'a-b'|replace('-', '+') }}|{{ 'aaa'|replace('a', 'b', 2) }}",
    "{{ [3, 1, 2]|sort }}|{{ ['b', 'A', 'a']|unique|list }}|{{ {'b': 1, 'A': 2, 'a': 3}|dictsort }}"
    "|{{ [3, 1, 2]|sort(reverse=true) }}|{{ [{'n': 2}, {'n': 1}]|sort(attribute='n') }}",
    "{{ 2.5|round }}|{{ 3|round }}|{{ 2.675|round(2) }}|{{ 2.5|round(0, 'floor') }}"
    "|{{ -3|abs }}|{{ '12'|int + 1 }}|{{ '1.5'|int }}|{{ 'x'|int }}|{{ '1.5'|float }}|{{ 3|float }}",
    "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}",
    "{{ [1, 2, 3]|map('string')|join(',') }}|{{ [{'a': 1}, {'a': 2}]|map(attribute='a')|list }}"
    "|{{ [{'a': 1}, {'b': 2}]|map(attribute='a', default=0)|list }}"
    "|{{ [1, 2, 3]|select('odd')|list }}|{{ [1, 2, 3]|reject('equalto', 2)|list }}",
    "{% set us = [{'r': 'user', 'n': 1}, {'r': 'bot', 'n': 2}, {'r': 'user', 'n': 3}] %}"
    "{{ us|selectattr('r', 'equalto', 'user')|map(attribute='n')|list }}"
    "|{{ us|rejectattr('r', 'eq', 'user')|list|length }}|{{ us|selectattr('n')|list|length }}",
    "{{ [1, 2, 3]|first }}|{{ [1, 2, 3]|last }}|{{ 'abc'|first }}|{{ []|first }}|{{ [1, 2]|sum }}"
    "|{{ [1, 5, 2]|max }}|{{ [1, 5, 2]|min }}|{{ 'a b  c'|wordcount }}|{{ [1, 2]|string }}"
    "|{{ {'a': 1}|items|list }}|{{ [1, 2, 3]|length }}|{{ 'héllo'|count }}|{{ [1, 2]|reverse|list }}",
    "{{ [1, 2, 3]|batch(2)|list }}|{{ [1, 2, 3]|slice(2)|list }}|{{ 'x'|center(5) }}"
    "|{{ 'hello world foo bar'|truncate(9, leeway=0) }}|{{ '%s=%d'|format('a', 3) }}",
    # tojson as transformers defines it
    "{{ {'a': [1, 2.0, none, true, 'é\\n\"\\\\'], 'b': {}}|tojson }}"
    "|{{ {'a': [1, {}], 'b': []}|tojson(indent=2) }}|{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}"
    "|{{ [1, 2]|tojson(separators=(',', ':')) }}|{{ [1, 'é']|tojson(ensure_ascii=true) }}"
    "|{{ {'a': []}|tojson(indent='\\t') }}|{{ '<>&\\'\\u007f\\u0001'|tojson }}",
    # markupsafe: Markup + str escapes the str
    "{{ 'x'|safe + '<a>' }}|{{ '<a>' + 'x'|safe }}|{{ 'x'|safe ~ '<a>' }}|{{ '<&>'|e }}",
    # Python string methods
    "{{ 'Hello'.startswith(('x', 'H')) }}|{{ '  x  '.strip() }}|{{ 'a,b,,c'.split(',') }}"
    "|{{ 'a b  c'.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}"
    "|{{ 'ab\\ncd\\r\\nef'.splitlines() }}|{{ 'abc'.endswith('c') }}|{{ 'abc'.find('c') }}"
    "|{{ 'x'.join(['a', 'b']) }}|{{ 'a b'.title() }}|{{ 'aXa'.replace('a', 'b') }}"
    "|{{ '%s-%d' % ('a', 3) }}|{{ '{}-{}'.format(1, 'b') }}|{{ ' x '.lstrip() }}.",
    # macros and call blocks
    "{% macro f(a, b=2) %}{{ a }}{{ b }}{{ varargs }}{{ kwargs }}{% endmacro %}"
    "{{ f(1) }}|{{ f(1, 3, 4) }}|{{ f(1, c=5) }}|{{ f(b=7, a=6) }}",
    "{% macro f(a) %}[{{ caller(a) }}]{% endmacro %}{% call(x) f(5) %}got {{ x }}{% endcall %}",
    "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}"
    "{{ fact(10) }}",
    "{% set x %}  hi {{ 1 }} {% endset %}[{{ x }}]{% set y | upper %}up{% endset %}{{ y }}",
    "{% filter upper %}shout {{ 'this' }}{% endfilter %}",
    # loops
    "{% for a in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.revindex }}"
    "-{{ loop.cycle('x', 'y') }}-{{ loop.first }}-{{ loop.last }} {% endfor %}",
    "{% for a in [] %}x{% else %}empty{% endfor %}"
    "|{% for a in [1, 2, 3, 4] if a is even %}{{ loop.index }}/{{ loop.length }}{% endfor %}",
    "{% for a in [1, 2, 3] %}{% if a == 2 %}{% continue %}{% endif %}{{ a }}{% endfor %}"
    "|{% for a in [1, 2, 3] %}{% if a == 2 %}{% break %}{% endif %}{{ a }}{% endfor %}",
    "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"
    "{% for k in {'x': 1} %}{{ k }}{% endfor %}{% for c in 'ab' %}{{ c }}{% endfor %}",
    "{% generation %}inside{% endgeneration %}",
    "{{ strftime_now('%Y-%m-%d %d %b %Y %A %H:%M:%S') }}",
    "{{ range(3)|list }}|{{ range(1, 10, 3)|list }}|{{ dict(a=1, b=2) }}|{{ dict([('k', 'v')]) }}",
    # errors
    "{{ 'a' + 1 }}",
    "{{ 'a' < 1 }}",
    "{{ 1 in 'abc' }}",
    "{% for x in none %}{% endfor %}",
    "{{ foo( }}",
    "{% if x %}",
    "{{ x|no_such_filter }}",
    "{{ x is no_such_test }}",
    "{% include 'other.jinja' %}",
    "{{ raise_exception('custom failure: ' ~ 42) }}",
    "{{ range(1000000)|length }}",
    "{% set ns = namespace() %}{% set ns._private = 1 %}",
]


@pytest.mark.parametrize("source", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_snippet_matches_jinja2(tmp_path, source):
    path = tmp_path / "t.jinja"
    path.write_bytes(source.encode("utf-8"))  # keep \r\n as written
    assert_same(path, source, {"messages": [], "bos_token": "<s>"})


def test_cpp_cases_are_current():
    """tests/template/cases.json (the C++ suite's expectations) is what
    jinja2 renders today."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests" / "template" / "gen_cases.py"), "--check"],
        capture_output=True,
    )
    assert proc.returncode == 0, "run tests/template/gen_cases.py to refresh cases.json"


# --- randomized: whitespace control and expressions --------------------------

_TEXTS = ["", " ", "  ", "\n", " \n", "\n  ", "\t", "a", " a ", "b\n", "\n\n", " \t \n x",
          "x  ", "\u3000", "\xa0 "]


def _random_whitespace_template(rnd, depth=0):
    def sign():
        return rnd.choice(["", "", "-", "+"])

    out = ""
    for _ in range(rnd.randint(1, 6)):
        out += rnd.choice(_TEXTS)
        kind = rnd.choice(["var", "comment", "if", "set", "raw", "var", "if"])
        if kind == "var":
            out += "{{" + rnd.choice(["", "-"]) + " 1 " + rnd.choice(["", "-"]) + "}}"
        elif kind == "comment":
            out += "{#" + sign() + " c " + sign() + "#}"
        elif kind == "set":
            out += "{%" + sign() + " set x = 1 " + sign() + "%}"
        elif kind == "raw":
            out += ("{%" + sign() + " raw " + sign() + "%}" + rnd.choice(_TEXTS) + "{{ x }}"
                    + rnd.choice(_TEXTS) + "{%" + sign() + " endraw " + sign() + "%}")
        else:
            inner = _random_whitespace_template(rnd, depth + 1) if depth < 2 else rnd.choice(_TEXTS)
            out += ("{%" + sign() + " if true " + sign() + "%}" + inner + "{%" + sign()
                    + " endif " + sign() + "%}")
    return out + rnd.choice(_TEXTS)


_ATOMS = ["'a\\'b'", '"q\\"x"', "'\\n'", "'\\u2028\\xa0'", "'é\\x00'", "1e16", "1e-5",
          "123456789.125", "-0.0", "7", '(1, "a")', "{'b': [1, {'c': none}], 'a': 2.0}", "0", "1",
          "-3", "2.5", "0.1", "'a'", "''", "'Ab c'", "'héllo'", "none", "true", "false", "[]",
          "[1, 2]", "['x', 'y']", "{'k': 1}", "{}", "xs", "d", "missing", "msgs", "msgs[0]",
          "d['a']", "d.items()", "xs[1:]"]
_BINOPS = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">=", "in", "not in",
           "and", "or"]
_FILTERS = ["length", "upper", "lower", "title", "trim", "first", "last", "list", "string", "int",
            "float", "abs", "round", "tojson", "tojson(indent=1)", "join(',')", "sort",
            "unique|list", "reverse|list", "default('D')", "default('D', true)", "items|list",
            "dictsort", "sum", "max", "min", "wordcount", "capitalize", "replace('a', 'b')",
            "center(7)", "indent(2)", "map('string')|list", "select|list", "reject('odd')|list",
            "batch(2)|list", "count", "safe", "e"]
_TESTS = ["defined", "none", "string", "number", "integer", "mapping", "iterable", "sequence",
          "odd", "even", "true", "false", "boolean", "float", "lower", "upper", "divisibleby 2",
          "eq 1", "in [1, 'a']"]


def _random_expression(rnd, depth=0):
    r = rnd.random()
    if depth > 2 or r < 0.3:
        return rnd.choice(_ATOMS)
    sub = lambda: _random_expression(rnd, depth + 1)  # noqa: E731
    if r < 0.55:
        return f"({sub()} {rnd.choice(_BINOPS)} {sub()})"
    if r < 0.8:
        return f"({sub()})|{rnd.choice(_FILTERS)}"
    if r < 0.9:
        return f"({sub()} is {rnd.choice(['', 'not '])}{rnd.choice(_TESTS)})"
    return f"({sub()} if {sub()} else {sub()})"


_RANDOM_CONTEXT = {"xs": [1, 2, 3], "d": {"a": 1, "items": 5}, "msgs": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("seed", range(4))
def test_random_whitespace_control(tmp_path, seed):
    rnd = random.Random(seed)
    path = tmp_path / "t.jinja"
    for _ in range(60):
        source = _random_whitespace_template(rnd)
        path.write_text(source, encoding="utf-8")
        assert_same(path, source, {})


@pytest.mark.parametrize("seed", range(4))
def test_random_expressions(tmp_path, seed):
    rnd = random.Random(1000 + seed)
    path = tmp_path / "t.jinja"
    for _ in range(60):
        source = "{{ " + _random_expression(rnd) + " }}"
        path.write_text(source, encoding="utf-8")
        assert_same(path, source, _RANDOM_CONTEXT)


# --- errors are bounded ------------------------------------------------------


@pytest.mark.parametrize(
    "source,needle",
    [
        ("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", "nested deeper"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
         "loop iterations"),
        ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
         "{% endfor %}{{ ns.s|length }}", "limit"),
        ("{{ 'x' * 1000000000000 }}", "limit"),
        ("{% for i in range(100000) %}{{ 'y' * 100000 }}{% endfor %}", "output larger"),
        ("{{ " + "(" * 500 + "1" + ")" * 500 + " }}", "nesting"),
        ("{{ ('x' * 30000000).split('x')|length }}", "items"),
        ("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
         "{% set ns.l = ns.l + [i] %}{% endfor %}", "steps"),
        ("{% set s = 'x' * 3000000 %}{% for i in range(10000) %}{% set t = s ~ i %}{% endfor %}",
         "steps"),
    ],
    ids=["recursion", "loops", "string-doubling", "huge-repeat", "huge-output", "deep-parens",
         "huge-split", "quadratic-list", "quadratic-string"],
)
def test_limits_give_clear_errors(tmp_path, source, needle):
    path = tmp_path / "t.jinja"
    path.write_text(source)
    rc, stdout, stderr = tessera_render(path, {})
    assert rc == 2 and stdout == b""
    assert stderr.startswith("error: ") and stderr.count("\n") == 1
    assert needle in stderr, stderr


def test_cli_errors(tmp_path):
    template = tmp_path / "t.jinja"
    template.write_text("{{ messages }}")
    missing = tessera_render(tmp_path / "missing.jinja", {})
    assert missing[0] == 2 and "missing.jinja" in missing[2]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = subprocess.run(
        [tessera_bin(), "render-template", "--template", str(template), "--context", str(bad)],
        capture_output=True,
    )
    assert proc.returncode == 2 and proc.stderr.decode().startswith("error: ")
    not_object = tmp_path / "list.json"
    not_object.write_text("[1, 2]")
    proc = subprocess.run(
        [tessera_bin(), "render-template", "--template", str(template), "--context",
         str(not_object)],
        capture_output=True,
    )
    assert proc.returncode == 2


def test_now_override(tmp_path):
    template = tmp_path / "t.jinja"
    template.write_text("{{ strftime_now('%d %b %Y') }}")
    rc, stdout, _ = tessera_render(template, {}, ["--now", "2025-01-02"])
    assert rc == 0 and stdout == b"02 Jan 2025"


# --- transformers itself, when installed -------------------------------------


def _transformers_render():
    transformers = pytest.importorskip("transformers")
    del transformers
    from transformers.utils.chat_template_utils import render_jinja_template

    return render_jinja_template


def test_reference_matches_transformers(monkeypatch):
    """The jinja2 environment above renders exactly like transformers."""
    render_jinja_template = _transformers_render()
    import transformers.utils.chat_template_utils as ctu

    class _FixedDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return FIXED_NOW

    monkeypatch.setattr(ctu, "datetime", _FixedDatetime)
    ctu._compile_jinja_template.cache_clear()
    compared = 0
    for template_path in TEMPLATES:
        source = template_path.read_text(encoding="utf-8")
        for context_path in CONTEXTS:
            for add_generation_prompt in (True, False):
                context = load_context(context_path, add_generation_prompt)
                context.setdefault("tools", None)
                context.setdefault("documents", None)
                expected = reference_render(source, context)
                kwargs = dict(context)
                messages = kwargs.pop("messages")
                try:
                    rendered, _ = render_jinja_template(
                        conversations=[messages], chat_template=source, **kwargs
                    )
                    got = ("ok", rendered[0])
                except Exception as e:
                    got = ("error", (type(e).__name__, str(e)))
                if expected[0] == "ok":
                    assert got == expected, (template_path.name, context_path.name)
                    compared += 1
                else:
                    assert got[0] == "error", (template_path.name, context_path.name)
    assert compared > 100


DEFAULT_MODEL = pathlib.Path(
    os.environ.get(
        "TESSERA_MODEL",
        pathlib.Path.home() / ".cache" / "tessera" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf",
    )
)


@functools.lru_cache(maxsize=None)
def _gguf_chat_template(path):
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def field_string(field, index=0):
        return bytes(field.parts[field.data[index]]).decode("utf-8")

    source = field_string(reader.fields["tokenizer.chat_template"])
    tokens = reader.fields["tokenizer.ggml.tokens"]
    special = {}
    for name in ("bos", "eos", "unk", "pad"):
        key = f"tokenizer.ggml.{name}_token_id"
        if key in reader.fields:
            token_id = int(reader.fields[key].parts[reader.fields[key].data[0]][0])
            special[f"{name}_token"] = field_string(tokens, token_id)
    return source, special


@pytest.fixture(scope="module")
def default_model():
    if not DEFAULT_MODEL.is_file():
        pytest.skip(f"default model not downloaded: {DEFAULT_MODEL}")
    return DEFAULT_MODEL


@pytest.mark.parametrize("context_path", CONTEXTS, ids=lambda p: p.stem)
def test_default_model_template_matches_jinja2(tmp_path, default_model, context_path):
    source, special = _gguf_chat_template(default_model)
    path = tmp_path / "model.jinja"
    path.write_text(source, encoding="utf-8")
    for add_generation_prompt in (True, False):
        context = load_context(context_path, add_generation_prompt)
        # -m: the model's own template and special tokens (the context's win)
        assert_same(None, source, {**special, **context}, ["-m", str(default_model)])
        without_tokens = {k: v for k, v in context.items() if not k.endswith("_token")}
        assert_same(None, source, {**special, **without_tokens}, ["-m", str(default_model)])
        assert_same(path, source, {**special, **context})


def test_model_folder_template(tmp_path):
    """-m with a Hugging Face folder: tokenizer_config.json's chat_template and
    special tokens (AddedToken objects too), chat_template.jinja first."""
    source = (SHARED / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text(encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"chat_template": source, "eos_token": {"content": "<|im_end|>"},
                    "bos_token": None, "pad_token": "<|endoftext|>"}),
        encoding="utf-8",
    )
    special = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    for context_path in CONTEXTS:
        context = load_context(context_path, True)
        context = {k: v for k, v in context.items() if not k.endswith("_token")}
        assert_same(None, source, {**special, **context}, ["-m", str(tmp_path)])
    override = "{{ eos_token }}|{{ messages|length }}"
    (tmp_path / "chat_template.jinja").write_text(override, encoding="utf-8")
    assert_same(None, override, {**special, "messages": []}, ["-m", str(tmp_path)])


def test_default_model_matches_apply_chat_template(tmp_path, default_model):
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(default_model.parent), gguf_file=default_model.name
        )
    except (ImportError, ModuleNotFoundError):
        # transformers reads GGUF files only with torch installed; without it
        # the tokenizer comes from an HF folder written from the same file.
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts"))
        from hf_tokenizer_from_gguf import write_tokenizer_files

        write_tokenizer_files(str(default_model), str(tmp_path / "hf"))
        tokenizer = AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    source, special = _gguf_chat_template(default_model)
    assert tokenizer.chat_template == source
    path = tmp_path / "model.jinja"
    path.write_text(source, encoding="utf-8")
    checked = 0
    for context_path in CONTEXTS:
        for add_generation_prompt in (True, False):
            context = load_context(context_path, add_generation_prompt)
            messages = context["messages"]
            try:
                expected = tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=add_generation_prompt
                )
            except Exception:
                continue
            ours = {**tokenizer.special_tokens_map, "messages": messages,
                    "add_generation_prompt": add_generation_prompt, "tools": None,
                    "documents": None}
            rc, stdout, stderr = tessera_render(path, ours)
            assert rc == 0, stderr
            assert stdout.decode("utf-8") == expected, context_path.name
            checked += 1
    assert checked > 10
