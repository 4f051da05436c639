"""Conversations as Rasa keeps them, read and written by the backend:
the tracker store (tracker.py reads it, writer.py deletes from it), what its
events say (events.py), the summary index of the staff console's list
(index.py), masking for staff (masking.py), transcripts (transcript.py),
the export as a Rasa test story (story.py), and the backend's own rows
about a conversation (rows.py)."""
