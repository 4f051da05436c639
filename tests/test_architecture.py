"""The tree tells the architecture (docs/ARCHITECTURE.md): which package may
import which, no console page importing another, no product module over
450 lines, a backend whose top level holds at most a dozen modules.

Read from the source with `ast` (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"contract", "identity", "trust", "backend", "tools", "devstack", "bot", "actions", "bench", "tests"}
# Package -> the packages of ours it may import.
ALLOWED = {
    "contract": set(),
    "identity": {"contract"},
    "trust": {"identity", "contract"},
    "backend": {"contract", "identity", "trust", "tools"},  # tools: the demo-registry command, loaded lazily
    "tools": {"backend", "contract", "identity"},
    "actions": {"contract", "identity", "trust"},
    "bot": {"contract", "identity", "trust"},
    "devstack": {"backend", "trust", "identity", "contract"},
}
PRODUCT = ("contract", "identity", "trust", "backend", "actions", "bot", "devstack", "tools", "bench")
MAX_LINES = 450


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Dotted names this module imports (absolute imports; relative ones
    resolved against the module's package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.add(".".join((*base, node.module or "")).rstrip("."))
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_packages_below_it(package: str) -> None:
    wrong = {}
    for path in modules(package):
        tops = {n.split(".")[0] for n in imported(path)} & OURS
        bad = tops - ALLOWED[package] - {package}
        if bad:
            wrong[str(path.relative_to(ROOT))] = sorted(bad)
    assert not wrong, wrong


def test_only_the_command_line_loads_the_demo_generator() -> None:
    users = [
        str(p.relative_to(ROOT)) for p in modules("backend") if any(n.split(".")[0] == "tools" for n in imported(p))
    ]
    assert all(u.startswith("backend/cli/") for u in users), users


def test_console_pages_do_not_import_each_other() -> None:
    console = ROOT / "backend" / "web" / "console"
    # The pages (each a set of handlers); the rest is what they share
    # (urls, refs, auth, staff, search, charts, ticket_stats) and the
    # route table that assembles them (routes).
    pages = {"bulletin", "campaign", "conversations", "dashboard", "fixes", "not_claimed", "person_data", "tickets"}
    assert pages <= {p.stem for p in console.glob("*.py")}
    wrong = {}
    for path in console.glob("*.py"):
        others = {
            n.split(".")[3] for n in imported(path) if n.startswith("backend.web.console.") and len(n.split(".")) > 3
        } & pages
        others.discard(path.stem)
        if others and path.stem in pages:
            wrong[path.name] = sorted(others)
    assert not wrong, wrong


def test_no_product_module_is_over_450_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for pkg in PRODUCT
        for p in modules(pkg)
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, long


def test_the_backend_top_level_holds_at_most_a_dozen_modules() -> None:
    top = sorted(p.name for p in (ROOT / "backend").glob("*.py"))
    assert len(top) <= 12, top
