"""What the backend owes the people whose data it holds (PIPL): conversations
deleted after the retention period, older claim attempts anonymised
(retention.py), and one person's data exported or deleted on request
(person_data.py; the CLI's person-data and the console's /staff/person-data).
The privacy page itself is backend/web/privacy_page.py."""
