"""The Rasa engine environment (.venv-rasa, Python 3.10) that `make`
installs: Rasa 3.6.21, and our shared identity code importable there."""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.rasa_cli import RASA_PY, ROOT, rasa_env, run_rasa
import pytest

pytestmark = pytest.mark.rasa  # needs the Rasa engine (make test-fast leaves these out)


def test_rasa_engine_environment(tmp_path: Path) -> None:
    assert RASA_PY.exists(), "no .venv-rasa: run `make install`"
    script = (
        "import sys, rasa, jieba, sqlalchemy; "
        "from identity import normalise_text, validate_id, mask_id; "
        "print(sys.version_info[:2], rasa.__version__, sqlalchemy.__version__, "
        "normalise_text('幫孩子領卡３６'), mask_id('36010219900101123X'))"
    )
    out = subprocess.run([str(RASA_PY), "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=rasa_env(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(3, 10) 3.6.21 1.4.54 帮孩子领卡36 3601**********123X"


def test_rasa_data_validates_without_warnings(tmp_path: Path) -> None:
    # Training data only (data/): the test stories of tests/stories/ are not read.
    out = run_rasa(["data", "validate", "--fail-on-warnings"], home=tmp_path, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # --fail-on-warnings lets "not used in any story or rule" pass: check it too.
    assert "is not used in any story or rule" not in out.stdout + out.stderr


def test_schema_cache_validates_like_jsonschema(tmp_path: Path) -> None:
    """bot/jsonschema_cache.py (installed in the Rasa server by our channel):
    same answers as jsonschema.validate, the schema checked once."""
    script = """
import jsonschema
from jsonschema import ValidationError
from bot import jsonschema_cache
from rasa.core.actions.action import RemoteAction

schema = RemoteAction("action_x", None).action_response_format_spec()
good = {"events": [{"event": "slot", "name": "a", "value": 1}], "responses": [{"text": "hi"}]}
bad = {"events": "not a list", "responses": []}
checks = []
original_check = jsonschema.validators.validator_for(schema).check_schema
def counting(s):
    checks.append(1)
    return original_check(s)
jsonschema.validators.validator_for(schema).check_schema = staticmethod(counting)
jsonschema_cache.install()
for _ in range(3):
    jsonschema.validate(good, schema)
    try:
        jsonschema.validate(bad, schema)
    except ValidationError as e:
        assert "not a list" in str(e) or "array" in str(e), e
    else:
        raise SystemExit("bad instance accepted")
assert RemoteAction("action_x", None)._validate_action_result(good)
assert len(checks) == 1, checks
print("ok")
"""
    out = subprocess.run([str(RASA_PY), "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=rasa_env(tmp_path))
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout + out.stderr
