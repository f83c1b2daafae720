"""The docs cannot drift from the code: every module is in the architecture page's map, and every
relative link in the README and docs/ leads to a file (and heading) that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "server", "trainer")
NOT_MODULES = {"__init__", "__main__"}


def code_map() -> str:
    page = (ROOT / "docs" / "architecture.md").read_text()
    section = page.split("## Map of the code", 1)[1]
    return section.split("```", 2)[1]


def modules() -> list[Path]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if path.stem in NOT_MODULES or "migrations" in relative.parts:
                continue  # Alembic's revisions are named by the map's `migrations/`
            found.append(relative)
    return found


def map_blocks(text: str) -> dict[str, str]:
    """Each package directory of the map ('server/engine/') with the text that describes its modules."""
    blocks: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    current = ""
    for line in text.splitlines():
        entry = re.match(r"^( *)([a-z_]+/)\s", line)
        if entry:
            indent = len(entry.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, entry.group(2)))
            current = "".join(name for _, name in stack)
            blocks.setdefault(current, "")
        blocks[current] = blocks.get(current, "") + line + "\n"
    return blocks


def test_every_module_is_in_the_map_under_its_package():
    blocks = map_blocks(code_map())
    missing = []
    for module in modules():
        package = "/".join(module.parts[:-1]) + "/"
        described = blocks.get(package, "")
        if not re.search(rf"(?<![a-z_]){re.escape(module.stem)}(?![a-z_])", described):
            missing.append(str(module))
    assert not missing, f"modules missing from docs/architecture.md's map (under their package): {missing}"


def test_every_package_is_in_the_map():
    blocks = map_blocks(code_map())
    packages = {
        str(p.parent.relative_to(ROOT)) + "/"
        for p in ROOT.glob("*/**/__init__.py")
        if p.parts[len(ROOT.parts)] in PACKAGES and "migrations" not in p.parts
    }
    assert not sorted(packages - set(blocks)), "packages missing from the map"


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_relative_links_lead_somewhere(page: Path):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue  # an outside address
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(target)
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(target)
    assert not broken, f"links in {page.name} that lead nowhere: {broken}"


def test_the_readme_fits_on_a_few_screens():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 120, "the README introduces; the rest belongs in docs/"


# A measured duration or rate in the code: "550 us", "2.7 ms", "402 tok/s", "1.3x faster". The code
# keeps the decision a measurement led to and points at docs/performance.md, where the figure has
# its date and command; a figure in a comment goes stale unseen.
MEASURED = re.compile(r"\b\d+(\.\d+)? ?(ms|us|µs|tok/s|tokens/s)\b|\b\d+(\.\d+)?x (faster|slower|quicker)\b")
# What such a pattern finds that is a setting, not a measurement
SETTINGS = {("server/cli.py", "Spinning ~10 ms before")}


def test_the_code_keeps_decisions_and_the_ledger_keeps_the_figures():
    found = []
    for path in modules():
        for number, line in enumerate((ROOT / path).read_text().splitlines(), 1):
            if MEASURED.search(line) and not any(str(path) == p and words in line for p, words in SETTINGS):
                found.append(f"{path}:{number}: {line.strip()}")
    assert not found, "measured figures belong in docs/performance.md:\n" + "\n".join(found)
