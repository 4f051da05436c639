"""The dialogue: the test stories of tests/stories/ (each claim path,
questions and cancelling mid-claim, path switches, troubleshooting,
hand-over, fallbacks) replayed against the trained model with
`rasa test core --e2e --fail-on-prediction-errors`.

--e2e makes Rasa read the test stories (files named test_*.yml) and run
each `user:` text through the NLU model, so a wrong intent or entity fails
too; without it the texts would be ignored. The action server is not
called: the events written after each action are taken as given. Results
go to var/story-results/ (git-ignored)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.rasa_cli import MODEL, NO_MODEL, RASA, ROOT, run_rasa

pytestmark = pytest.mark.rasa  # needs the Rasa engine (make test-fast leaves these out)

STORIES = ROOT / "tests" / "stories"
OUT = ROOT / "var" / "story-results"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def story_files() -> list[Path]:
    return sorted(STORIES.glob("*.yml"))


def test_story_files_are_test_stories() -> None:
    """Rasa reads only files named test_*.yml as test stories (--e2e), and
    silently skips the others."""
    assert story_files()
    for path in story_files():
        assert path.name.startswith("test_"), path
        assert yaml.safe_load(path.read_text(encoding="utf-8")).get("stories"), path


def failure_report(out: subprocess.CompletedProcess[str]) -> str:
    """The failed story as Rasa prints it when it stops at the first wrong
    prediction, and the failed stories it wrote if it got that far."""
    for stream in (out.stdout, out.stderr):
        if "Failed Story" in stream:
            start = stream.rfind("\n", 0, stream.index("Failed Story")) + 1
            return ANSI.sub("", stream[start:])[:8000]
    failed = OUT / "failed_test_stories.yml"
    written = failed.read_text(encoding="utf-8") if failed.exists() else ""
    return (written[:8000] + "\n" + ANSI.sub("", out.stdout[-2000:] + out.stderr[-4000:])).strip()


@pytest.mark.skipif(not RASA.exists(), reason="no .venv-rasa: run make install")
@pytest.mark.timeout(960)
def test_stories_are_predicted_without_errors(tmp_path: Path) -> None:
    assert MODEL.exists(), NO_MODEL
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    out = run_rasa(
        [
            "test",
            "core",
            "--model",
            str(MODEL),
            "--stories",
            str(STORIES),
            "--e2e",
            "--fail-on-prediction-errors",
            "--out",
            str(OUT),
            "--no-plot",
        ],
        home=tmp_path,
    )
    assert out.returncode == 0, failure_report(out)
    # Every story was replayed (a story file Rasa skipped would not fail).
    expected = sum(len(yaml.safe_load(p.read_text(encoding="utf-8"))["stories"]) for p in story_files())
    report = json.loads((OUT / "story_report.json").read_text())
    assert report["conversation_accuracy"] == {
        "accuracy": 1.0,
        "correct": expected,
        "with_warnings": 0,
        "total": expected,
    }
