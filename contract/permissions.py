"""What a card may be used for: the permission codes a card carries and
their names. The names are this deployment's configuration (the notice
says only that permissions are assigned automatically); which identity
gets which is the backend's rule (backend/permissions.py)."""

from __future__ import annotations

PERMISSION_LABELS = {
    "learning_space": "教育资源公共服务平台学习空间",
    "public_courses": "公共学习资源",
    "k12_resources": "中小学/中职教育资源",
    "higher_ed_resources": "高等教育资源",
    "teaching_resources": "教师教学资源",
    "teacher_training": "教师培训",
    "campus_services": "校园服务",
}
