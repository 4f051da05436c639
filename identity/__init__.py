"""Identity rules shared by the backend, the action server and the Rasa
components: resident ID numbers (GB 11643), Chinese names, and masking.

Pure Python (stdlib plus the OpenCC dictionary), importable on Python 3.10
(Rasa engine) and 3.11 (.venv).
"""

from identity.idnumber import IdCheck, check_char, normalise_id, validate_id
from identity.masking import mask_id, mask_name
from identity.names import check_name, name_problem, normalise_for_nlu, normalise_name, normalise_text

__all__ = [
    "IdCheck",
    "check_char",
    "check_name",
    "mask_id",
    "mask_name",
    "name_problem",
    "normalise_for_nlu",
    "normalise_id",
    "normalise_name",
    "normalise_text",
    "validate_id",
]
