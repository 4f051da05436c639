"""Where the stack's pieces are: the repository, its two Python
environments, the model and var/ (databases, keys, logs, caches)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
MODEL = ROOT / "models" / "xuexihao.tar.gz"
VENV_PY = ROOT / ".venv" / "bin" / "python"
# Rasa's own command (training); servers start through RASA_CLI.
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
# Rasa's command line with our patches of Rasa installed first (bot/__main__.py).
RASA_CLI = [str(ROOT / ".venv-rasa" / "bin" / "python"), "-m", "bot"]
