"""One vocabulary: every user-facing label, contact and time zone defined once.

A label is a short Chinese text that names a code: a claim path (家长代领),
a failure (未核验到身份), a ticket status (待处理). Its home is contract/;
the bot's sentences live in domain.yml's responses. Copies drift (the
console once said 未查到身份 where the report said 未核验到身份), so this test
reads the product source and fails when the same label is defined in two
places, or when a module outside contract/ labels the codes of a vocabulary
contract/ already labels.

Defining a label, in Python: a Chinese string of at most 12 characters that is
- the value of a code in a dict literal (`{"parent": "家长代领"}`),
- the second of a (code, label) pair (`("open", "待处理")`),
- or the whole value of a module or class constant (`NO_PATH_LABEL = "未选择"`);
in a template: an `<option>` whose value is a literal code. Word lists the
bot reads typed text with (tuples of words) are not labels, nor are
sentences (longer) or the texts of calls.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import contract
from contract import contacts

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("actions", "bot", "backend", "identity", "trust", "contract")
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"
MAX_LABEL = 12
CJK = re.compile(r"[\u3400-\u9fff]")
CODE = re.compile(r"[a-z][a-z0-9_]*\Z")
OPTION = re.compile(r'<option value="(?P<code>[a-z][a-z0-9_]*)"[^>]*>(?P<label>[^<{]*)</option>')


@dataclass(frozen=True)
class Label:
    text: str
    code: str | None
    where: str  # path:line
    table: str | None = None  # path:line of the dict literal holding it

    @property
    def in_contract(self) -> bool:
        return self.where.startswith("contract/")


def product_files(*suffixes: str) -> Iterator[Path]:
    for top in PRODUCT:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in suffixes and "__pycache__" not in path.parts and "vendor" not in path.parts:
                yield path


def _is_label(node: ast.AST | None) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and len(node.value) <= MAX_LABEL
        and CJK.search(node.value) is not None
        and "\n" not in node.value
        and "{" not in node.value
    )


def _is_code(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value) is not None


def python_labels(path: Path) -> Iterator[Label]:
    rel = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if _is_code(key) and _is_label(value):
                    assert isinstance(key, ast.Constant) and isinstance(value, ast.Constant)
                    yield Label(value.value, key.value, f"{rel}:{value.lineno}", f"{rel}:{node.lineno}")
        elif isinstance(node, (ast.Tuple, ast.List)) and len(node.elts) == 2:
            code, label = node.elts
            if _is_code(code) and _is_label(label):
                assert isinstance(code, ast.Constant) and isinstance(label, ast.Constant)
                yield Label(label.value, code.value, f"{rel}:{label.lineno}")
    scopes: list[ast.AST] = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))]
    for scope in scopes:
        for statement in getattr(scope, "body", []):
            if isinstance(statement, (ast.Assign, ast.AnnAssign)) and _is_label(statement.value):
                assert isinstance(statement.value, ast.Constant)
                yield Label(statement.value.value, None, f"{rel}:{statement.lineno}")


def template_labels(path: Path) -> Iterator[Label]:
    rel = path.relative_to(ROOT).as_posix()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for m in OPTION.finditer(line):
            text = m.group("label").strip()
            if CJK.search(text) and len(text) <= MAX_LABEL:
                yield Label(text, m.group("code"), f"{rel}:{number}", f"{rel}:{number}")


def all_labels() -> list[Label]:
    found = [label for path in product_files(".py") for label in python_labels(path)]
    return found + [label for path in product_files(".html") for label in template_labels(path)]


def _assigned_names(tree: ast.Module) -> set[str]:
    return {
        target.id
        for statement in tree.body
        if isinstance(statement, (ast.Assign, ast.AnnAssign))
        for target in (statement.targets if isinstance(statement, ast.Assign) else [statement.target])
        if isinstance(target, ast.Name)
    }


def contract_vocabularies() -> dict[str, dict[str, str]]:
    """contract's code -> label tables, as imported (derived ones included),
    each named by the module that defines it."""
    tables: dict[str, dict[str, str]] = {}
    for info in pkgutil.iter_modules(contract.__path__, "contract."):
        module = importlib.import_module(info.name)
        defined = _assigned_names(ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8")))
        for name, value in vars(module).items():
            if (
                name in defined
                and isinstance(value, dict)
                and len(value) >= 2
                and all(isinstance(k, str) and CODE.match(k) for k in value)
                and all(isinstance(v, str) and CJK.search(v) for v in value.values())
            ):
                tables[f"{info.name}.{name}"] = value
    return tables


def test_the_scanner_sees_labels() -> None:
    """The scan finds contract's labels where they are written (else the
    tests below would pass on nothing)."""
    texts = {label.text for label in all_labels() if label.in_contract}
    vocabularies = contract_vocabularies()
    assert any("未核验到身份" in table.values() for table in vocabularies.values()), sorted(vocabularies)
    assert {"未核验到身份", "家长代领", "待处理"} <= texts


def test_a_label_is_defined_in_one_place() -> None:
    places: dict[str, list[Label]] = defaultdict(list)
    for label in all_labels():
        places[label.text].append(label)
    twice = {text: [label.where for label in found] for text, found in places.items() if len(found) > 1}
    assert not twice, "labels defined more than once (define them in contract/ and import them):\n" + "\n".join(
        f"  {text}: {', '.join(where)}" for text, where in sorted(twice.items())
    )


def test_no_module_relabels_a_contract_vocabulary() -> None:
    """A table outside contract/ labelling two or more codes that a table of
    contract/ labels is a copy of that vocabulary, whatever its wording."""
    tables: dict[str, dict[str, str]] = defaultdict(dict)
    for label in all_labels():
        if label.table and not label.in_contract and label.code:
            tables[label.table][label.code] = label.text
    vocabularies = contract_vocabularies()
    copies = []
    for where, table in sorted(tables.items()):
        copied = [name for name, vocabulary in vocabularies.items() if len(set(table) & set(vocabulary)) >= 2]
        if copied:
            copies.append(f"  {where} labels {', '.join(sorted(table))}: see {', '.join(copied)}")
    assert not copies, "vocabularies of contract/ labelled again:\n" + "\n".join(copies)


PHONE = re.compile(r"(?<![0-9])0[0-9]{2,3}-[0-9]{7,8}(?![0-9])")


def test_contacts_are_written_in_contract_only() -> None:
    """Phone numbers live in contract/contacts.py; domain.yml's responses
    (which cannot import) name only those."""
    elsewhere = [
        f"{path.relative_to(ROOT)}: {m.group(0)}"
        for path in product_files(".py", ".html", ".js", ".css")
        if path != ROOT / "contract" / "contacts.py"
        for m in PHONE.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not elsewhere, "phone numbers outside contract/contacts.py:\n  " + "\n  ".join(elsewhere)
    known = {v for k, v in vars(contacts).items() if isinstance(v, str) and PHONE.fullmatch(v)}
    assert contacts.HOTLINE in known
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    in_responses = {
        m.group(0)
        for variants in domain["responses"].values()
        for variant in variants
        for m in PHONE.finditer(variant.get("text") or "")
    }
    assert in_responses, "domain.yml names no phone number: is the scan still reading its responses?"
    assert in_responses <= known, f"domain.yml names numbers contract/contacts.py does not: {in_responses - known}"


BEIJING_OFFSET = re.compile(r"hours\s*=\s*8\b|'\+8 hours'|'8 hours'|\+08:?00")


def test_beijing_time_is_defined_in_contract_only() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in product_files(".py")
        if not path.relative_to(ROOT).as_posix().startswith("contract/")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if BEIJING_OFFSET.search(line) and not line.lstrip().startswith("#")
    ]
    assert not found, "Beijing's offset written outside contract/ (import contract.beijing):\n  " + "\n  ".join(found)


ID_SHAPE = re.compile(r"\{17\}\[0-9X")


def test_the_id_pattern_is_written_in_identity_idnumber_only() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in product_files(".py")
        if path != ROOT / "identity" / "idnumber.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ID_SHAPE.search(line)
    ]
    assert not found, "ID number patterns outside identity/idnumber.py (import ID_PATTERN):\n  " + "\n  ".join(found)


def test_every_permission_a_card_gets_has_a_name() -> None:
    from backend.claims.permissions import BASE_PERMISSIONS, PERMISSIONS_BY_IDENTITY
    from contract.paths import IDENTITIES
    from contract.permissions import PERMISSION_LABELS

    granted = set(BASE_PERMISSIONS).union(*PERMISSIONS_BY_IDENTITY.values())
    assert granted == set(PERMISSION_LABELS)
    assert set(PERMISSIONS_BY_IDENTITY) == set(IDENTITIES)


def test_contract_imports_nothing_but_the_standard_library() -> None:
    stdlib = sys.stdlib_module_names
    for path in product_files(".py"):
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith("contract/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            for name in names:
                top = name.split(".")[0]
                assert top in stdlib or top in ("contract", "__future__"), f"{rel} imports {name}"


@pytest.mark.skipif(not RASA_PY.exists(), reason="no .venv-rasa: run make install")
def test_contract_imports_on_the_rasa_python() -> None:
    modules = [info.name for info in pkgutil.iter_modules(contract.__path__, "contract.")]
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint(sys.version_info[:2])"
    done = subprocess.run([str(RASA_PY), "-c", code, *modules], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(3, 10)"
