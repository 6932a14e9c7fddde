"""The documentation a clone carries: links stay inside the repository, and docs/contract.md
names every command, option and exit code the CLI has."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from fairsel.cli import main
from fairsel.errors import ExitCode
from fairsel.policy.loader import parse_policy

ROOT = Path(__file__).resolve().parents[2]
#: The Markdown a user of a clone reads.
PAGES = sorted({ROOT / "README.md", ROOT / "benchmarks" / "README.md",
                ROOT / "data_samples" / "README.md", *(ROOT / "docs").glob("*.md")})
CONTRACT = ROOT / "docs" / "contract.md"
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_send_readers_only_to_files_in_the_repository(page):
    text = page.read_text(encoding="utf-8")
    for outside in ("shared/", "CONTRACT.md", "DESIGN.md", "/work/"):
        assert outside not in text, f"{page.name} refers to '{outside}', which a clone lacks"
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor on the same page
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), \
            f"{page.name}: link '{target}' does not lead to a file in the repository"


def test_the_readme_links_the_reference_pages():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("docs/policy.md", "docs/results.md", "docs/contract.md"):
        assert f"]({page})" in readme, page


def _commands() -> list[tuple[str, click.Command]]:
    return sorted(main.commands.items())


@pytest.mark.parametrize("name,command", _commands(), ids=[n for n, _ in _commands()])
def test_the_contract_names_every_command_and_option(name, command):
    text = CONTRACT.read_text(encoding="utf-8")
    assert f"`fairsel {name}" in text, f"docs/contract.md does not document `fairsel {name}`"
    for param in command.params:
        if isinstance(param, click.Option) and "--help" not in param.opts:
            long = max(param.opts, key=len)
            assert long in text, f"docs/contract.md does not document `fairsel {name} {long}`"


def test_the_contract_lists_every_exit_code():
    text = CONTRACT.read_text(encoding="utf-8")
    table = text[text.index("## Exit codes"):text.index("## The policy file")]
    listed = {int(m) for m in re.findall(r"^\| (\d+) \|", table, flags=re.M)}
    assert listed == {int(c) for c in ExitCode}


def test_the_contract_example_is_a_valid_policy():
    text = CONTRACT.read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(version: 1\n.*?)```", text, flags=re.S).group(1)
    policy = parse_policy(example, CONTRACT)
    assert policy.name == "german-credit" and len(policy.candidates) == 3
    assert policy.mitigation_policy.allow_group_specific_decisions is False
