"""report.html: self-contained, escaped, deterministic, built from shipped or overriding templates."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fairsel.errors import UsageError
from fairsel.report.context import SECTIONS
from fairsel.report.html import TEMPLATES, render_html, template_folder, write_html
from fairsel.results import AuditResult
from tests.unit.report.factory import IMG, SCRIPT, make_result

FIXTURES = Path(__file__).parent / "fixtures"


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text of <style> blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def parse(html: str) -> _Elements:
    p = _Elements()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def injected() -> AuditResult:
    return make_result(inject=True, failures=True)


@pytest.fixture(scope="module")
def injected_html(injected) -> str:
    return render_html(injected)


def test_html_has_no_external_url(injected_html):
    doc = parse(injected_html)
    assert doc.tags, "nothing parsed"
    for tag, attrs in doc.tags:
        for name in ("src", "href", "xlink:href", "action", "data", "poster"):
            value = (attrs.get(name) or "").strip().lower()
            assert not re.match(r"^(https?:)?//", value), (tag, name, value)
            assert not value.startswith(("file:", "ftp:")), (tag, name, value)
        style = attrs.get("style") or ""
        assert "url(" not in style.lower() or "url(#" in style.lower(), (tag, style)
    css = "\n".join(doc.styles)
    assert "@page" in css  # the stylesheet is inline, not linked
    for url in re.findall(r"url\(([^)]*)\)", css):
        assert url.strip().startswith("#"), url
    assert not [t for t, a in doc.tags if t == "link" and "stylesheet" in (a.get("rel") or "")]
    assert not re.search(r"https?://", injected_html), "no http(s) URL anywhere in report.html"
    assert not [t for t, _ in doc.tags if t in ("script", "iframe", "object", "embed")]


def test_html_escapes_strings_from_data_and_policy(injected, injected_html):
    doc = parse(injected_html)
    # The attack strings never become elements: the only <img> would be one we wrote.
    assert not [a for t, a in doc.tags if t == "img"], "an <img> element was injected"
    assert not [t for t, _ in doc.tags if t == "script"], "a <script> element was injected"
    assert not any("onerror" in a for _, a in doc.tags)
    assert SCRIPT not in injected_html and IMG not in injected_html
    # ...and they are shown as text, in tables and in the charts' SVG text.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in injected_html
    assert "&lt;img src=x onerror=alert(1)&gt;" in injected_html
    chart_text = re.findall(r"<text[^>]*>([^<]*)</text>", injected_html)
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in t for t in chart_text), \
        "the group name should appear, escaped, as a chart label"


def test_html_contains_every_section_in_order(injected_html):
    positions = [injected_html.find(f'id="{sid}"') for sid, _ in SECTIONS]
    assert all(p > 0 for p in positions), dict(zip([s for s, _ in SECTIONS], positions))
    assert positions == sorted(positions)
    for _, title in SECTIONS:
        assert f">{title}</h2>" in injected_html


def test_rendering_twice_gives_identical_html():
    # Two separate result objects (as two runs of `fairsel render` would load), so that the
    # in-process cache cannot make the test pass by itself.
    a = make_result(seed=5, n_variants=3)
    b = AuditResult.model_validate_json(a.model_dump_json())
    assert a is not b
    first, second = render_html(a), render_html(b)
    assert first == second
    # the charts are inside and their ids are unique in the document
    ids = re.findall(r'\bid="([^"]+)"', first)
    assert len(ids) == len(set(ids)), [i for i in set(ids) if ids.count(i) > 1][:5]
    assert first.count("<svg ") >= 2


def test_charts_use_the_colour_blind_safe_palette(injected_html):
    """Every colour in the charts is an Okabe–Ito colour or a grey (issue 12: colour-blind-safe
    palette); the series still differ by shape and fill for a black-and-white print."""
    from fairsel.report.charts import PALETTE

    allowed = {c.lower().lstrip("#") for c in PALETTE.values()}
    svg_colours = set()
    for svg in re.findall(r"<svg .*?</svg>", injected_html, flags=re.S):
        svg_colours |= {c.lower() for c in
                        re.findall(r"(?:fill|stroke): ?#([0-9a-fA-F]{6})", svg)}
    assert svg_colours, "no colour found in the charts"
    hues = {c for c in svg_colours if len({c[0:2], c[2:4], c[4:6]}) > 1}
    assert hues <= allowed, f"colours outside the palette: {sorted(hues - allowed)}"
    assert len(hues) >= 3, "the charts should use the palette, not only greys"


def test_write_html_writes_the_file(tmp_path, injected):
    paths = write_html(injected, tmp_path)
    assert paths == [tmp_path / "report.html"]
    text = paths[0].read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert b"\r\n" not in paths[0].read_bytes()


def test_no_pass_summary_says_so_first_and_shows_the_closest():
    result = make_result(passing=False, seed=11, n_variants=3)
    assert result.ranking.selected is None
    html = render_html(result)
    summary = html[html.index('id="summary"'):html.index('id="data"')]
    lead = summary.index("No model passes the policy")
    assert lead < summary.index("Main findings")
    closest = result.ranking.order[0]
    assert f"Closest: <strong>{closest}</strong>" in summary
    failing = [g for g in result.gates if g.variant == closest and g.severity == "error"
               and g.status != "PASS"]
    assert failing
    for g in failing:
        assert f"{g.gap:.4f}" in summary, f"the gap of {g.metric} is not shown"


def test_signoff_blocks_follow_the_policy():
    result = make_result(signoff=[{"role": "Chief <risk> officer", "name": "Dana"},
                                  {"role": "Model validator", "name": None}])
    html = render_html(result)
    control = html[html.index('id="control"'):html.index('id="summary"')]
    assert control.count('class="signoff"') == 2
    assert "Chief &lt;risk&gt; officer" in control and "Dana" in control
    assert control.count("Statement of independence") == 1  # under the validator's block
    default = render_html(make_result(signoff=[]))
    control = default[default.index('id="control"'):default.index('id="summary"')]
    assert "The usual sign-off roles: the audit policy names none of its own." in control
    assert control.count('class="signoff"') == 3


# --- templates ------------------------------------------------------------------------------


def test_environment_autoescapes_and_rejects_undefined_variables():
    import jinja2

    from fairsel.report.html import _environment

    env = _environment(None)
    assert env.autoescape is True
    assert env.undefined is jinja2.StrictUndefined
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()


def test_shipped_templates_are_package_data():
    names = {p.name for p in TEMPLATES.iterdir()}
    assert {"report.html.j2", "report.css", "_cover.html.j2", "_macros.html.j2"} <= names


def test_user_templates_override_the_shipped_ones():
    folder = template_folder("templates_override", base=FIXTURES, where="p.yaml: report → templates")
    assert folder == FIXTURES / "templates_override"
    html = render_html(make_result(), templates=folder)
    assert "OVERRIDDEN COVER for Synthetic audit" in html
    assert 'id="leaderboard"' in html  # the other sections still come from the package


def test_the_result_never_chooses_the_templates():
    # a result whose embedded policy names a folder renders with the shipped templates
    result = make_result(templates="templates_override",
                         policy_path=str(FIXTURES / "policy.yaml"))
    html = render_html(result)
    assert "OVERRIDDEN COVER" not in html
    assert '<p class="cover-kicker">Fairness audit report</p>' in html  # the shipped cover


def test_missing_template_folder_is_a_clear_error():
    with pytest.raises(UsageError) as err:
        template_folder("no_such_folder", base=FIXTURES, where="p.yaml: report → templates")
    msg = str(err.value)
    assert "p.yaml: report → templates: 'no_such_folder' does not exist" in msg
    assert str(FIXTURES / "no_such_folder") in msg and "remove the key" in msg


def test_undefined_variable_in_a_user_template_names_the_file():
    with pytest.raises(UsageError) as err:
        render_html(make_result(), templates=FIXTURES / "templates_undefined")
    msg = str(err.value)
    assert "_cover.html.j2:3" in msg and "no_such_field" in msg, msg


def test_bad_target_is_refused():
    with pytest.raises(ValueError):
        render_html(make_result(), target="docx")


def test_a_variant_that_could_not_be_evaluated_still_renders():
    result = make_result(n_variants=3, failures=True)
    last = result.ranking.order[-1]
    assert last != result.ranking.selected
    broken = result.variant(last).model_copy(update={
        "name": "broken", "status": "ERROR", "performance": {}, "fairness": {},
        "attributes": [], "folds": []})
    variants = [broken if v.name == last else v for v in result.variants]
    gates = [g for g in result.gates if g.variant != last]
    order = [n for n in result.ranking.order if n != last] + ["broken"]
    result = result.model_copy(update={"variants": variants, "gates": gates,
                                       "ranking": result.ranking.model_copy(
                                           update={"order": order})})
    html = render_html(result)
    assert 'id="cand-2"' in html and "3. broken" in html
    assert "ValueError: Input contains NaN" in html  # the recorded failure is shown
