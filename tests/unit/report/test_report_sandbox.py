"""Report templates run no code: sandboxed rendering, a confined folder, errors with file:line.

Every template here is a user override (the ``templates=`` folder of render_html), the way a
policy's ``report → templates`` or ``fairsel render --templates`` supplies it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fairsel.errors import UsageError
from fairsel.report.html import check_templates, render_html
from tests.unit.report.factory import make_result

PASSWD_LINE = "root:x:0:0"


@pytest.fixture(scope="module")
def result():
    return make_result(n_variants=1)


def _cover(folder: Path, body: str) -> Path:
    """A user _cover.html.j2 whose line 2 is ``body``."""
    folder.mkdir(exist_ok=True)
    path = folder / "_cover.html.j2"
    path.write_text('<section class="cover" id="cover">\n' + body + "\n</section>\n",
                    encoding="utf-8")
    return path


ESCAPES = {
    "lipsum_globals": "{{ lipsum.__globals__['os'].popen('touch PWNED').read() }}",
    "lipsum_called": "{{ lipsum() }}",
    "cycler_globals": "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "joiner_globals": "{{ joiner.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "namespace": "{% set ns = namespace(x=1) %}{{ ns.x }}",
    "str_mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "attr_filter_mro": "{{ (''|attr('__class__')).__mro__ }}",
    "template_reference": "{{ self._TemplateReference__context }}",
    "self_globals": "{{ self.__init__.__globals__ }}",
    "config": "{{ config.__class__.__init__.__globals__['os'].popen('touch PWNED') }}",
    "range_globals": "{{ range.__globals__['os'] }}",
    "format_dunder": "{{ '{0.__class__.__mro__}'.format('') }}",
    "format_map": "{{ '{x.__class__}'.format_map({'x': 1}) }}",
    "mutate_list": "{% set x = [1] %}{{ x.append(2) }}",
    "mutate_dict": "{% set d = {} %}{{ d.update({'a': 1}) }}",
    "mutate_context": "{{ cover.update({'title': 'x'}) }}",
    "huge_string": "{{ 'a' * 1000000000 }}",
    "huge_power": "{{ 9 ** 99999999 }}",
    "nested_power": "{{ ((9 ** 999) ** 999) ** 999 }}",
    "huge_range": "{{ range(10000000000)|list|length }}",
    "dict_global": "{{ dict(a=1) }}",
}


@pytest.mark.parametrize("body", ESCAPES.values(), ids=ESCAPES.keys())
def test_escape_attempts_are_exit_2_with_file_and_line(body, result, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _cover(tmp_path / "t", body)
    with pytest.raises(UsageError) as err:
        render_html(result, templates=tmp_path / "t")
    msg = str(err.value)
    assert f"{path.resolve()}:2: " in msg, msg
    assert not (tmp_path / "PWNED").exists()
    assert err.value.exit_code == 2


#: The escapes check_templates finds without a result (before any training).
STATIC = ["lipsum_globals", "lipsum_called", "cycler_globals", "joiner_globals", "namespace",
          "str_mro", "attr_filter_mro", "template_reference", "self_globals", "config",
          "range_globals", "dict_global"]


@pytest.mark.parametrize("key", STATIC)
def test_check_templates_finds_escapes_before_any_rendering(key, tmp_path):
    path = _cover(tmp_path / "t", ESCAPES[key])
    with pytest.raises(UsageError) as err:
        check_templates(tmp_path / "t")
    msg = str(err.value)
    assert f"{path.resolve()}:2: " in msg, msg
    assert "UndefinedError" in msg or "SecurityError" in msg


def test_check_templates_accepts_what_a_template_legitimately_does(tmp_path):
    folder = tmp_path / "t"
    _cover(folder, '{% import "_macros.html.j2" as mm %}{% from "mine.j2" import box %}'
           "{% set x = cover.title %}{% for s in sections %}{{ loop.index }}{{ s.id }}"
           "{% endfor %}{{ box(x) }}{% include 'part.html' %}")
    (folder / "mine.j2").write_text("{% macro box(v) %}[{{ v }}]{{ caller is defined }}"
                                    "{% endmacro %}", encoding="utf-8")
    (folder / "part.html").write_text("{{ x }} {{ target }} {{ meta.title }}", encoding="utf-8")
    check_templates(folder)


def test_the_shipped_templates_pass_the_check():
    from fairsel.report.html import TEMPLATES

    check_templates(TEMPLATES)


def test_sandbox_refusals_say_why(result, tmp_path):
    _cover(tmp_path / "t", ESCAPES["mutate_list"])
    with pytest.raises(UsageError) as err:
        render_html(result, templates=tmp_path / "t")
    msg = str(err.value)
    assert "SecurityError: access to attribute 'append' of 'list' object is unsafe" in msg
    assert "render in a sandbox" in msg
    _cover(tmp_path / "t", "{{ cover.title.__class__ }}")  # internals are refused too
    with pytest.raises(UsageError) as err:
        render_html(result, templates=tmp_path / "t")
    assert "access to attribute '__class__' of 'str' object is unsafe" in str(err.value)


def test_the_removed_globals_are_named_as_undefined(result, tmp_path):
    _cover(tmp_path / "t", "{{ lipsum }}")
    with pytest.raises(UsageError) as err:
        render_html(result, templates=tmp_path / "t")
    assert "UndefinedError: 'lipsum' is undefined" in str(err.value)


def test_ordinary_template_features_still_work(result, tmp_path):
    _cover(tmp_path / "t", "{% set xs = [2, 1] %}{% for i in range(3) %}[{{ i }}]{% endfor %}"
           "{{ cover.title|upper }} {{ '%s-%s'|format(1, 2) }} {{ '{}/{}'.format(3, 4) }} "
           "{{ xs|sort|join(',') }} {{ 2 ** 10 }} {{ 'ab' * 3 }}")
    html = render_html(result, templates=tmp_path / "t")
    assert "[0][1][2]SYNTHETIC AUDIT 1-2 3/4 1,2 1024 ababab" in html


# --- the folder is a boundary ---------------------------------------------------------------


def test_a_symlinked_template_outside_the_folder_is_refused(result, tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "_cover.html.j2").symlink_to("/etc/passwd")
    for check in (lambda: render_html(result, templates=folder), lambda: check_templates(folder)):
        with pytest.raises(UsageError) as err:
            check()
        msg = str(err.value)
        assert str(folder / "_cover.html.j2") in msg and "outside the template folder" in msg
        assert PASSWD_LINE not in msg


def test_a_symlinked_subfolder_outside_the_folder_is_refused(result, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("SECRET", encoding="utf-8")
    folder = tmp_path / "t"
    _cover(folder, '{% include "sub/secret.txt" %}')
    (folder / "sub").symlink_to(outside)
    with pytest.raises(UsageError) as err:
        render_html(result, templates=folder)
    assert "outside the template folder" in str(err.value) and "SECRET" not in str(err.value)
    with pytest.raises(UsageError) as err:
        check_templates(folder)
    assert str(folder / "sub") in str(err.value)


def test_a_symlink_inside_the_folder_is_fine(result, tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "cover.txt").write_text('<section id="cover">INSIDE LINK</section>',
                                      encoding="utf-8")
    (folder / "_cover.html.j2").symlink_to(folder / "cover.txt")
    check_templates(folder)
    assert "INSIDE LINK" in render_html(result, templates=folder)


@pytest.mark.parametrize("name", ["../outside.txt", "sub/../../outside.txt", "..\\outside.txt"])
def test_an_include_that_leaves_the_folder_is_refused(name, result, tmp_path):
    (tmp_path / "outside.txt").write_text("OUTSIDE", encoding="utf-8")
    path = _cover(tmp_path / "t", '{% include "' + name.replace("\\", "\\\\") + '" %}')
    with pytest.raises(UsageError) as err:
        render_html(result, templates=tmp_path / "t")
    msg = str(err.value)
    assert f"{path.resolve()}:2: " in msg and "OUTSIDE" not in msg, msg


def test_an_absolute_include_stays_inside_the_folder(result, tmp_path):
    _cover(tmp_path / "t", '{% include "/etc/passwd" %}')
    with pytest.raises(UsageError) as err:
        render_html(result, templates=tmp_path / "t")
    assert "TemplateNotFound" in str(err.value) and PASSWD_LINE not in str(err.value)


def test_extends_outside_the_folder_is_refused(result, tmp_path):
    (tmp_path / "base.html").write_text("{% block x %}{% endblock %}", encoding="utf-8")
    _cover(tmp_path / "t", '{% extends "../base.html" %}')
    with pytest.raises(UsageError) as err:
        render_html(result, templates=tmp_path / "t")
    assert "leaves the template folder" in str(err.value)


def test_a_fifo_in_the_folder_is_refused_without_reading_it(result, tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    os.mkfifo(folder / "_cover.html.j2")
    with pytest.raises(UsageError) as err:
        check_templates(folder)
    assert "not a regular file" in str(err.value)
    with pytest.raises(UsageError):
        render_html(result, templates=folder)


# --- errors name the file and line ----------------------------------------------------------


def test_a_syntax_error_names_file_and_line(tmp_path):
    folder = tmp_path / "t"
    path = _cover(folder, "{% if %}")
    for check in (lambda: check_templates(folder),
                  lambda: render_html(make_result(n_variants=1), templates=folder)):
        with pytest.raises(UsageError) as err:
            check()
        assert f"{path.resolve()}:2: TemplateSyntaxError" in str(err.value)


def test_check_templates_compiles_every_template_file(tmp_path):
    folder = tmp_path / "t"
    (folder / "deep").mkdir(parents=True)
    (folder / "notes.bin").write_bytes(b"\xff\xfe not a template, never compiled")
    check_templates(folder)
    (folder / "deep" / "part.html").write_text("ok\n{{ x +* }}", encoding="utf-8")
    with pytest.raises(UsageError) as err:
        check_templates(folder)
    assert f"{(folder / 'deep' / 'part.html').resolve()}:2" in str(err.value)
    (folder / "deep" / "part.html").write_text("ok", encoding="utf-8")
    (folder / "report.css").write_bytes(b"body { }\n\xff")
    with pytest.raises(UsageError) as err:
        check_templates(folder)
    assert "report.css: a report template must be UTF-8 text" in str(err.value)


def test_a_runtime_error_names_file_and_line(result, tmp_path):
    path = _cover(tmp_path / "t", "{{ 1 // 0 }}")
    with pytest.raises(UsageError) as err:
        render_html(result, templates=tmp_path / "t")
    assert f"{path.resolve()}:2: ZeroDivisionError" in str(err.value)


def test_a_huge_folder_is_refused_before_it_is_walked_in_full(tmp_path, monkeypatch):
    import fairsel.report.html as html

    monkeypatch.setattr(html, "MAX_TEMPLATE_FILES", 5)
    folder = tmp_path / "t"
    folder.mkdir()
    for i in range(6):
        (folder / f"f{i}.txt").write_text("x", encoding="utf-8")
    with pytest.raises(UsageError) as err:
        check_templates(folder)
    assert "holds more than 5 files and folders" in str(err.value)
    (folder / "f0.txt").unlink()
    check_templates(folder)
