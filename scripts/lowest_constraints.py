"""Prints pip constraints that pin every runtime dependency to the lowest version pyproject.toml
allows, so `make test-lowest` runs the suite against the declared lower bounds, not only against
the newest releases that a plain install resolves to.

    python scripts/lowest_constraints.py pyproject.toml clients/python/pyproject.toml > lowest.txt

A bound must name a release that exists: the pin is the bound itself, and `ninja==1.11` matches
no release (ninja's first 1.11 is 1.11.1), so that bound reads `ninja>=1.11.1`. torch is left out: the
CPU install path pins it (constraints/cpu.txt), and its CPU builds of other versions are not on
this project's package registry. Test tools (the `dev` extra) stay at their newest release.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # the Makefile installs tomli first
    import tomli as tomllib

LOWER_BOUND = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)")
NOT_PINNED = {"torch", "tuneserve-client"}


def lowest_pins(pyproject: Path) -> list[str]:
    """`name==version` for each runtime dependency of one pyproject.toml that has a `>=` bound."""
    pins = []
    for requirement in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        match = LOWER_BOUND.match(requirement)
        if match is None:
            raise SystemExit(f"{pyproject}: cannot read the requirement {requirement!r}")
        name, specifiers = match.group(1).lower(), match.group(2)
        floor = re.search(r">=\s*([0-9][0-9.]*)", specifiers)
        if name in NOT_PINNED or floor is None:
            continue
        pins.append(f"{name}=={floor.group(1)}")
    return pins


def main(paths: list[str]) -> None:
    pins: dict[str, str] = {}
    for path in paths:
        for pin in lowest_pins(Path(path)):
            name = pin.split("==")[0]
            if pins.setdefault(name, pin) != pin:
                raise SystemExit(f"{name}: {pins[name]} and {pin} disagree between the pyproject files")
    print("\n".join(sorted(pins.values())))


if __name__ == "__main__":
    main(sys.argv[1:])
