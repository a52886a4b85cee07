"""README.md, .ci/run, `invoke --list` and the docs/ pages that README.md links must stay true."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_starts_with_two_commands_and_ci_runs_the_second():
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[1] in (REPO / ".ci/run").read_text()


def test_every_task_is_in_the_readme_with_a_docstring():
    listing = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    tasks = re.findall(r"^  (\S+)", listing, re.M)
    assert "build" in tasks and "start" in tasks
    readme = (REPO / "README.md").read_text()
    for name in tasks:
        assert f"invoke {name}" in readme, name


def test_readme_links_every_docs_page_and_only_pages_that_exist():
    """A page that moves out of the README must stay reachable from it, and no link may dangle."""
    readme = (REPO / "README.md").read_text()
    linked = set(re.findall(r"\]\((docs/[^)#\s]+\.md)(?:#[^)]*)?\)", readme))
    missing = sorted(link for link in linked if not (REPO / link).is_file())
    assert not missing, f"README.md links to pages that do not exist: {missing}"
    pages = {path.relative_to(REPO).as_posix() for path in (REPO / "docs").glob("*.md")}
    assert pages, "docs/ has no pages"
    unlinked = sorted(pages - linked)
    assert not unlinked, f"docs pages that README.md does not link: {unlinked}"


def test_the_readme_lists_the_usage_csvs_columns_in_order():
    from jhdeploy.usagereport import CSV_COLUMNS

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("`--csv usage.csv` writes"):]
    found = re.findall(r"`(\w+)`", section[:section.index("matplotlib")])
    assert found == list(CSV_COLUMNS)
