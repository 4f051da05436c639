"""The backend's HTTP face: the JSON API for the action server, the web chat
page, the privacy page, and the staff console (console/)."""
