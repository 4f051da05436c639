"""The support staff console under /staff (urls.py): sign-in and the audit
log (auth.py, accounts in staff.py), and its pages; a page imports the
console's shared modules, never another page."""
