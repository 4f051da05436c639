"""The registry files' format (../shared/CONTRACT.md, "Registry import"):
the CSV columns of students.csv and teachers.csv, and the database columns
the importer writes, in the order the row checks produce them."""

from __future__ import annotations

STUDENT_COLUMNS = (
    "student_no,name,id_number,gender,birth_date,stage,school_code,school_name,district_code,"
    "grade,class_name,status,guardian1_name,guardian1_id_number,guardian1_relation,"
    "guardian2_name,guardian2_id_number,guardian2_relation"
).split(",")
TEACHER_COLUMNS = "teacher_no,name,id_number,gender,school_code,school_name,district_code,status".split(",")

# Database columns, in the order the row converters produce them.
STUDENT_DB_COLUMNS = (
    "id_number",
    "student_no",
    "name",
    "name_norm",
    "gender",
    "birth_date",
    "stage",
    "school_code",
    "school_name",
    "district_code",
    "grade",
    "class_name",
    "status",
    "guardian1_name",
    "guardian1_name_norm",
    "guardian1_id_number",
    "guardian1_relation",
    "guardian2_name",
    "guardian2_name_norm",
    "guardian2_id_number",
    "guardian2_relation",
)
TEACHER_DB_COLUMNS = (
    "id_number",
    "teacher_no",
    "name",
    "name_norm",
    "gender",
    "school_code",
    "school_name",
    "district_code",
    "status",
)
MAX_FIELD = 128  # characters in a text field
