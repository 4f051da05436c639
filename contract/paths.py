"""Claim paths, and the identities the registries confirm.

A path is how a card is claimed: the `role` entity and slot hold one
(../shared/CONTRACT.md), the backend's claim API takes one, cards and
claim attempts record one. An identity is what the 学籍库 and 教师库 say a
person is; a card lists the identities its holder has.
"""

from __future__ import annotations

K12_STUDENT = "k12_student"
PARENT = "parent"
UNIVERSITY_STUDENT = "university_student"
TEACHER = "teacher"
PUBLIC = "public"

PATHS = (K12_STUDENT, PARENT, UNIVERSITY_STUDENT, TEACHER, PUBLIC)
# The K-12 paths: the student claims, or a parent claims for the child;
# both are matched against the 学籍库.
K12_PATHS = (K12_STUDENT, PARENT)
# The holder claims their own card with the channel's verified real name.
SELF_SERVICE_PATHS = (UNIVERSITY_STUDENT, TEACHER, PUBLIC)
IDENTITIES = (K12_STUDENT, UNIVERSITY_STUDENT, TEACHER, PUBLIC)

# What a card's identities are called (the notice's 中小学生（中职学生）).
IDENTITY_LABELS = {
    "k12_student": "中小学生/中职学生",
    "university_student": "大学生",
    "teacher": "教师",
    "public": "社会公众",
}
# What a path is called, to staff and to the user changing it.
PATH_LABELS = {
    K12_STUDENT: IDENTITY_LABELS[K12_STUDENT],
    "parent": "家长代领",
    UNIVERSITY_STUDENT: IDENTITY_LABELS[UNIVERSITY_STUDENT],
    TEACHER: IDENTITY_LABELS[TEACHER],
    PUBLIC: IDENTITY_LABELS[PUBLIC],
}
# A conversation or a ticket before the user chose a path.
NO_PATH_LABEL = "未选择"
# The path in full, where the user checks the details before a card is issued.
PATH_TITLES = {
    **PATH_LABELS,
    K12_STUDENT: IDENTITY_LABELS[K12_STUDENT] + "（本人领取）",
    "parent": "家长为孩子代领",
}
