"""The registries' codes (学籍库 and 教师库), as the import files carry them
(../shared/CONTRACT.md: students.csv `stage` and `status`, teachers.csv
`status`)."""

from __future__ import annotations

K12_STAGES = ("primary", "junior", "senior", "vocational")
STAGES = K12_STAGES + ("university",)
STUDENT_STATUSES = ("enrolled", "graduated", "suspended", "withdrawn")
TEACHER_STATUSES = ("active", "retired", "left")
ENROLLED = "enrolled"  # a student who may claim as one (在读)
ACTIVE = "active"  # a teacher who may claim as one (在职)
# The units coverage is counted by (CONTRACT.md, "Campaign": `report --level`,
# `/staff/api/coverage?level=`), from the largest to the smallest.
COVERAGE_LEVELS = ("city", "county", "school", "grade", "class")
# The units of those levels, as the console, the files and the bulletin name them.
COVERAGE_LEVEL_LABELS = {"city": "设区市", "county": "县（市、区）", "school": "学校", "grade": "年级", "class": "班级"}
