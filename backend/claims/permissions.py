"""What a card may do, derived from the identities the registries confirm."""
from __future__ import annotations

BASE_PERMISSIONS = ("learning_space", "public_courses")
PERMISSIONS_BY_IDENTITY: dict[str, tuple[str, ...]] = {
    "k12_student": ("k12_resources", "campus_services"),
    "university_student": ("higher_ed_resources", "campus_services"),
    "teacher": ("teaching_resources", "teacher_training", "campus_services"),
    "public": (),
}
# Display labels, used by the action server and the staff console.
IDENTITY_LABELS = {
    "k12_student": "中小学生/中职学生",
    "university_student": "大学生",
    "teacher": "教师",
    "public": "社会公众",
}
PERMISSION_LABELS = {
    "learning_space": "教育资源公共服务平台学习空间",
    "public_courses": "公共学习资源",
    "k12_resources": "中小学/中职教育资源",
    "higher_ed_resources": "高等教育资源",
    "teaching_resources": "教师教学资源",
    "teacher_training": "教师培训",
    "campus_services": "校园服务",
}


def permissions_for(identities: list[str]) -> list[str]:
    """Union of the identities' permissions, in a stable order."""
    result: list[str] = list(BASE_PERMISSIONS)
    for identity in identities:
        for permission in PERMISSIONS_BY_IDENTITY.get(identity, ()):
            if permission not in result:
                result.append(permission)
    return result
