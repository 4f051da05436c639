"""Code that runs inside the Rasa server (Python 3.10, .venv-rasa): custom
NLU components such as text normalisation, and channel connectors.
The dialogue bot arrives with issue 3."""
