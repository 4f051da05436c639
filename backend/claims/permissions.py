"""What a card may do, derived from the identities the registries confirm."""

from __future__ import annotations

BASE_PERMISSIONS = ("learning_space", "public_courses")
PERMISSIONS_BY_IDENTITY: dict[str, tuple[str, ...]] = {
    "k12_student": ("k12_resources", "campus_services"),
    "university_student": ("higher_ed_resources", "campus_services"),
    "teacher": ("teaching_resources", "teacher_training", "campus_services"),
    "public": (),
}
# Their names: contract/permissions.py (the action server shows them).


def permissions_for(identities: list[str]) -> list[str]:
    """Union of the identities' permissions, in a stable order."""
    result: list[str] = list(BASE_PERMISSIONS)
    for identity in identities:
        for permission in PERMISSIONS_BY_IDENTITY.get(identity, ()):
            if permission not in result:
                result.append(permission)
    return result
