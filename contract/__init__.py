"""Vocabulary shared by the action server, the Rasa components and the
backend (pure Python, importable on Python 3.10 and 3.11): the buttons the
bot offers, and the contacts and documents the notice names."""
