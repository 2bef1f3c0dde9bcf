#!/usr/bin/env python3
"""Writes tests/template/cases.json: small templates with the output Python
jinja2 gives them in transformers' chat-template environment (or the
exception it raises). template_cases_test.cpp renders each with tessera and
compares; tests/python/test_chat_templates.py checks the file is current.

    python3 tests/template/gen_cases.py
"""

import datetime
import json
import pathlib
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "cases.json"
NOW = datetime.datetime(2024, 7, 26, 13, 45, 7)


class Raised(jinja2.exceptions.TemplateError):
    """What raise_exception() throws, to tell it from jinja2's own errors."""


def environment():
    def raise_exception(message):
        raise Raised(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: NOW.strftime(fmt)
    return env


CONTEXT = {
    "xs": [1, 2, 3],
    "d": {"b": 1, "a": 2, "items": 3},
    "s": "héllo wörld",
    "n": None,
    "empty": "",
    "zero": 0,
    "f": 2.5,
    "nested": {"list": [{"k": "v"}], "deep": {"deeper": {"deepest": True}}},
    "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
}

# (name, template); the context is CONTEXT for all.
CASES = [
    # Python truthiness
    ("truthiness", "{% for v in [0, 0.0, '', [], {}, none, false, 1, 'a', [0], {'k': 0}, 0.1] %}"
                   "{{ 'T' if v else 'F' }}{% endfor %}"),
    ("truthiness_undefined", "{{ 'T' if missing else 'F' }}{{ 'T' if not missing else 'F' }}"),
    ("and_or_values", "{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ none or none }}"),
    # integer vs float arithmetic
    ("division", "{{ 7 / 2 }}|{{ 6 / 3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 // -2.0 }}|{{ 7 % 3 }}"
                 "|{{ -7 % 3 }}|{{ 7 % -3 }}|{{ 7.5 % 2 }}|{{ -7.5 % 2 }}"),
    ("power", "{{ 2 ** 10 }}|{{ 2 ** -2 }}|{{ 2.0 ** 3 }}|{{ (-2) ** 3 }}|{{ 2 ** 3 ** 2 }}"),
    ("int_float_mix", "{{ 1 + 1.0 }}|{{ 3 * 1.5 }}|{{ 10 - 0.5 }}|{{ true + true }}|{{ 1 == 1.0 }}"),
    ("division_by_zero", "{{ 1 / 0 }}"),
    ("modulo_by_zero", "{{ 1 % 0 }}"),
    ("float_repr", "{{ 0.1 + 0.2 }}|{{ 1e16 }}|{{ 1e15 }}|{{ 1.5e-5 }}|{{ 0.0001 }}|{{ 1e300 * 10 }}"
                   "|{{ 2.0 }}|{{ -0.0 }}|{{ 123.456 }}|{{ 1/3 }}|{{ 5e-324 }}"),
    # string literals
    ("escapes", '{{ "tab\\there" }}|{{ \'q\\\'s\' }}|{{ "nl\\nx" }}|{{ "\\\\" }}|{{ "\\x41\\101" }}'
                '|{{ "\\u00e9\\U0001F600" }}|{{ "\\d unknown" }}|{{ "a" \'b\' "c" }}'),
    ("multiline_literal", "{{ 'line one\nline two' }}"),
    # slicing
    ("slicing", "{{ xs[::-1] }}|{{ xs[-2:] }}|{{ xs[:-1] }}|{{ xs[::2] }}|{{ xs[5:] }}"
                "|{{ xs[-100:100] }}|{{ xs[2:0:-1] }}|{{ 'abcdef'[::-2] }}|{{ s[1:4] }}|{{ s[::-1] }}"),
    ("slice_step_zero", "{{ xs[::0] }}"),
    ("indexing", "{{ xs[0] }}|{{ xs[-1] }}|{{ xs[3] }}|{{ s[1] }}|{{ s[-1] }}|{{ 'abc'[1] }}"),
    # dicts keep insertion order
    ("dict_order", "{% for k in d %}{{ k }}{% endfor %}|{{ d }}|{{ d|tojson }}|{{ d.keys()|list }}"
                   "|{{ {'z': 1, 'a': 2} }}|{{ d|dictsort }}"),
    ("dict_literal_override", "{{ {'a': 1, 'b': 2, 'a': 3} }}"),
    # tojson (json.dumps, ensure_ascii=False)
    ("tojson_basic", "{{ {'a': [1, 2.5, none, true, false, 'x\"y\\\\z\\n\\u00e9'], 'b': {}} | tojson }}"),
    ("tojson_indent", "{{ nested | tojson(indent=2) }}|{{ [] | tojson(indent=2) }}"
                      "|{{ [[]] | tojson(indent=1) }}|{{ {'a': 1} | tojson(indent='--') }}"),
    ("tojson_separators", "{{ xs | tojson(separators=(',', ':')) }}"
                          "|{{ d | tojson(separators=(';', '=')) }}"),
    ("tojson_sort_ascii", "{{ d | tojson(sort_keys=true) }}|{{ s | tojson(ensure_ascii=true) }}"
                          "|{{ '\U0001F600' | tojson(ensure_ascii=true) }}"),
    ("tojson_control_chars", "{{ '\\x01\\x1f\\x7f\\b\\f\\t' | tojson }}"),
    ("tojson_floats", "{{ [1.0, 0.5, 1e20, 1e-7, 3.14159] | tojson }}"),
    ("tojson_undefined", "{{ missing | tojson }}"),
    # printing (Python str / repr)
    ("print_values", "{{ none }}|{{ true }}|{{ [none, true, 'x', 1.0] }}|{{ {'k': [1, (2,)]} }}"
                     "|{{ (1, 2) }}|{{ ('single',) }}|{{ \"it's\" }}|{{ ['it\\'s', 'say \"hi\"'] }}"),
    ("print_unicode_repr", "{{ [s, '\\u00a0', '\\u200b', '\\x7f', '\\U0001F600', '\\n\\t\\r'] }}"),
    # undefined
    ("undefined_ops", "{{ missing }}|{{ missing|default('x') }}|{{ missing|length }}"
                      "|{{ missing is defined }}|{{ missing == missing }}|{{ missing ~ 'x' }}"),
    ("undefined_attr", "{{ missing.attr }}"),
    ("undefined_item", "{{ missing[0] }}"),
    ("undefined_call", "{{ missing() }}"),
    ("undefined_arith", "{{ missing + 1 }}"),
    ("missing_attr_is_undefined", "{{ d.nope is defined }}|{{ n.attr is defined }}|{{ xs.nope }}"),
    ("undefined_iteration", "{% for x in missing %}x{% else %}none{% endfor %}"),
    # comparisons
    ("comparisons", "{{ 1 < 2 < 3 }}|{{ 1 < 3 < 2 }}|{{ 'a' < 'b' }}|{{ [1, 2] < [1, 2, 0] }}"
                    "|{{ 2 != 2.0 }}|{{ none == none }}|{{ 'a' in 'cat' }}|{{ 2 not in xs }}"),
    ("compare_types", "{{ 1 < 'a' }}"),
    ("in_dict", "{{ 'a' in d }}|{{ 'z' in d }}|{{ 1 in [1.0] }}"),
    # whitespace control with trim_blocks / lstrip_blocks
    ("trim_blocks", "{% if true %}\nA\n{% endif %}\nB"),
    ("lstrip_blocks", "  {% if true %}\n  x\n  {% endif %}\n"),
    ("strip_markers", "a  \n  {%- if true -%}  \n b \n  {%- endif -%}\n  c"),
    ("plus_markers", "  {%+ if true +%}\nx{% endif %}"),
    ("var_strip", "a {{- 1 -}} b {{ 2 }} \n c"),
    ("comment_strip", "x\n  {# c #}\ny {#- c -#}  z"),
    ("raw_block", "{% raw %}{{ x }} {% if %}{% endraw %}"),
    ("trailing_newline", "text\n"),
    # loops
    ("loop_vars", "{% for x in xs %}{{ loop.index0 }}{{ loop.revindex0 }}{{ loop.length }}"
                  "{{ loop.first|int }}{{ loop.last|int }};{% endfor %}"),
    ("loop_filter_else", "{% for x in xs if x > 5 %}{{ x }}{% else %}none{% endfor %}"),
    ("loop_unpack", "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}"),
    ("loop_unpack_error", "{% for a, b in [[1, 2, 3]] %}{% endfor %}"),
    ("loop_scope", "{% set x = 0 %}{% for i in xs %}{% set x = i %}{% endfor %}{{ x }}"),
    ("loop_break_continue", "{% for x in range(10) %}{% if x is odd %}{% continue %}{% endif %}"
                            "{% if x > 6 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
    ("loop_string_and_dict", "{% for c in 'hé' %}[{{ c }}]{% endfor %}{% for k in d %}{{ k }}{% endfor %}"),
    ("loop_over_int", "{% for x in 5 %}{% endfor %}"),
    # assignment and namespaces
    ("namespace", "{% set ns = namespace(n=0, items=[]) %}{% for x in xs %}{% set ns.n = ns.n + x %}"
                  "{% set ns.items = ns.items + [x * 2] %}{% endfor %}{{ ns.n }}|{{ ns.items }}"),
    ("set_attr_on_dict", "{% set d.x = 1 %}"),
    ("set_tuple", "{% set a, b = 'xy' %}{{ b }}{{ a }}"),
    ("block_set", "{% set body %}\n  inner {{ 1 + 1 }}\n{% endset %}[{{ body }}]"),
    # macros
    ("macro_defaults", "{% macro m(a, b='B', c=none) %}{{ a }}{{ b }}{{ c }}{% endmacro %}"
                       "{{ m(1) }}|{{ m(1, 2) }}|{{ m(1, c=3) }}|{{ m() }}"),
    ("macro_recursion", "{% macro count(n) %}{{ n }}{% if n > 0 %}{{ count(n - 1) }}{% endif %}"
                        "{% endmacro %}{{ count(5) }}"),
    ("macro_returns_string", "{% macro m() %}5{% endmacro %}{{ m() + '1' }}|{{ m()|int + 1 }}"),
    ("macro_surplus_positional", "{% macro m(x) %}{{ x }}{% endmacro %}{{ m(1, 2) }}"),
    ("macro_varargs", "{% macro m(x) %}{{ x }}{{ varargs }}{% endmacro %}{{ m(1, 2, 3) }}"),
    ("macro_unknown_keyword", "{% macro m(x) %}{{ x }}{% endmacro %}{{ m(1, y=2) }}"),
    ("macro_kwargs", "{% macro m(x) %}{{ x }}{{ kwargs }}{% endmacro %}{{ m(1, y=2) }}|{{ m(x=4) }}"),
    ("macro_caller_unused", "{% macro m(x) %}{{ x }}{% endmacro %}{% call m(1) %}b{% endcall %}"),
    ("macro_default_reads_param", "{% macro m(a, b=a + 1) %}{{ a }}{{ b }}{% endmacro %}"
                                  "{{ m(1) }}{{ m(1, 5) }}{{ m(b=2, a=0) }}"),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}"
                   "{% call wrap('b') %}bold{% endcall %}"),
    # filters on strings
    ("string_filters", "{{ s|upper }}|{{ s|title }}|{{ s|capitalize }}|{{ '  pad  '|trim }}|"
                       "{{ s|length }}|{{ s|wordcount }}|{{ s|replace('l', 'L') }}"),
    ("string_methods", "{{ s.split(' ') }}|{{ s.upper() }}|{{ '  x '.rstrip() }}|{{ s.startswith('hé') }}"
                       "|{{ 'a-b-c'.split('-', 1) }}|{{ 'x'.join(xs|map('string')) }}|{{ s.find('w') }}"),
    ("percent_format", "{{ '%s|%5d|%-5s|%.2f|%x|%r' % ('a', 42, 'b', 3.14159, 255, 'q') }}"),
    # filters on sequences
    ("sequence_filters", "{{ xs|sum }}|{{ xs|max }}|{{ xs|min }}|{{ xs|first }}|{{ xs|last }}"
                         "|{{ xs|join('-') }}|{{ xs|reverse|list }}|{{ xs|length }}|{{ [3, 1, 2]|sort }}"),
    ("map_select", "{{ messages|map(attribute='role')|list }}"
                   "|{{ messages|selectattr('role', 'equalto', 'user')|list|length }}"
                   "|{{ xs|select('odd')|list }}|{{ xs|reject('odd')|list }}|{{ xs|map('string')|list }}"),
    ("generators", "{{ xs|map('string') is iterable }}|{{ xs|select('odd') is sequence }}"
                   "|{{ 'T' if ([]|select) else 'F' }}"),
    ("unique_dictsort", "{{ ['a', 'A', 'b', 'a']|unique|list }}"
                        "|{{ ['a', 'A']|unique(case_sensitive=true)|list }}"
                        "|{{ {'b': 2, 'a': 1}|dictsort(by='value', reverse=true) }}"),
    ("items_filter", "{% for k, v in d|items %}{{ k }}={{ v }} {% endfor %}"),
    ("round_int_float", "{{ 2.5|round }}|{{ 3.5|round }}|{{ 2.675|round(2) }}|{{ 7|round }}"
                        "|{{ 1234.5|round(-2) }}|{{ 2.1|round(0, 'ceil') }}|{{ 'x'|float }}|{{ '3'|int }}"),
    ("default_boolean", "{{ ''|default('d') }}|{{ ''|default('d', true) }}|{{ none|default('d') }}"
                        "|{{ none|d('d', true) }}"),
    ("indent_filter", "{{ 'a\\nb\\n\\nc\\n'|indent(3) }}|{{ 'a\\nb'|indent('> ', first=true) }}"),
    # errors
    ("raise_exception", "{{ raise_exception('Only user and assistant roles are supported!') }}"),
    ("unknown_filter", "{{ xs|frobnicate }}"),
    ("unknown_test", "{{ xs is frobnicated }}"),
    # inside if / conditional expressions unknown names only fail when run
    ("unknown_test_in_if", "{% if xs is frobnicated %}{% endif %}"),
    ("unknown_filter_in_dead_branch", "{% if false %}{{ xs|frobnicate }}{% endif %}ok"
                                      "{{ xs|frobnicate if false else 1 }}"),
    ("unknown_filter_in_loop_in_if", "{% if false %}{% for x in xs %}{{ x|frobnicate }}{% endfor %}"
                                     "{% endif %}"),
    ("unclosed_block", "{% for x in xs %}"),
    ("bad_expression", "{{ 1 + }}"),
    ("unclosed_string", "{{ 'abc }}"),
    ("unknown_tag", "{% frobnicate %}"),
    ("unsafe_method", "{{ xs.append(4) }}"),
    ("type_error_concat", "{{ 'a' + 1 }}"),
    ("strftime", "{{ strftime_now('%Y-%m-%d %H:%M %a %b %j') }}"),
]


def main():
    env = environment()
    cases = []
    for name, source in CASES:
        case = {"name": name, "template": source}
        try:
            case["output"] = env.from_string(source).render(**CONTEXT)
        except Raised as e:
            case["error"] = "raised"
            case["message"] = str(e)
        except (jinja2.exceptions.TemplateSyntaxError, jinja2.exceptions.TemplateAssertionError):
            case["error"] = "syntax"
        except Exception:  # TypeError, UndefinedError, SecurityError...
            case["error"] = "runtime"
        cases.append(case)
    data = {"context": CONTEXT, "now": NOW.isoformat(), "cases": cases}
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    if "--check" in sys.argv:
        return 0 if OUT.read_text(encoding="utf-8") == text else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
