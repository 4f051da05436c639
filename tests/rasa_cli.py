"""Running the Rasa 3.6 command line (.venv-rasa, Python 3.10) from the
tests, against the model that `make test` trains."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"
MODEL = ROOT / "models" / "xuexihao.tar.gz"
NO_MODEL = "no trained model: `make train` (make test trains it)"


def rasa_env(home: Path) -> dict[str, str]:
    """A clean environment: Rasa, TensorFlow, matplotlib and Jieba write
    their caches under HOME and TMPDIR, so both point at `home`."""
    return {"RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home)}


def run_rasa(args: list[str], home: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`rasa ARGS` in the repository root, output captured."""
    return subprocess.run(
        [str(RASA), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=rasa_env(home)
    )
