"""Code that runs inside the Rasa server (Python 3.10, .venv-rasa): the NLU
components (text normaliser, entity rules, typed button titles), the REST
channel, the tracker and lock stores, and the patches of Rasa internals
(`bot/patches/`, installed by `python -m bot`)."""
