"""Vocabulary shared by the action server, the Rasa components and the
backend (pure Python, importable on Python 3.10 and 3.11, standard library
only). Every code and Chinese label is defined here once and imported:

- paths.py: claim paths and identities, their labels;
- failures.py: the failure codes and their labels;
- registry.py: the registries' stages and statuses;
- limits.py: limits users are told about;
- permissions.py: what a card may be used for;
- staff.py: staff roles and ticket statuses;
- beijing.py: Beijing time;
- contacts.py: the hotline, contacts and the notice;
- buttons.py: the buttons the bot offers;
- metadata.py: keys of a message's metadata.

The bot's sentences are domain.yml's responses (and actions/messages.py
where Rasa cannot hold them). tests/contract/test_vocabulary.py fails when a label
is defined a second time.
"""
