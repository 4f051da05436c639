"""The rasa-sdk action server (Python 3.11, .venv): form validation,
registry matching and card issuing through the backend, troubleshooting,
handoff. Arrives with issue 3."""
