"""The SQL of the claim operations (operations.py), each statement whole.

Parameters are named (`:name`): SQLite binds them by name, the PostgreSQL
runner numbers them (`$1`, ...). Rows are read by column name (binding.py),
so a card is `cards.*` read into a CardRec, and a person's registry records
are aliased `student_*` and `teacher_*`. Every statement is an index
look-up or a single-row write; the invariants are the schema's
(backend/models.py): `ON CONFLICT DO NOTHING` tells a lost race.
"""

from __future__ import annotations

# The rate limit counts the failures that mean "the registry was consulted
# and said no" (the ones an enumeration attempt produces) of this chat, or of
# these ID numbers as holder or as guardian; counting stops at the limit.
RECENT_FAILURES = """
SELECT count(*) AS recent FROM (
    SELECT 1 FROM claim_attempts
    WHERE (channel_user = :channel_user
           OR id_hash IN (:id_hash, :guardian_id_hash)
           OR guardian_id_hash IN (:id_hash, :guardian_id_hash))
      AND created_at >= :since
      AND failure_code IN ('identity_not_found', 'not_enrolled', 'guardian_mismatch')
    LIMIT :limit
) AS counted
"""

# RECENT_FAILURES, and the registries' records and the card of one ID
# number: a claim's first look-up, in one round trip.
GATE = """
SELECT
    (SELECT count(*) FROM (
        SELECT 1 FROM claim_attempts
        WHERE (channel_user = :channel_user
               OR id_hash IN (:id_hash, :guardian_id_hash)
               OR guardian_id_hash IN (:id_hash, :guardian_id_hash))
          AND created_at >= :since
          AND failure_code IN ('identity_not_found', 'not_enrolled', 'guardian_mismatch')
        LIMIT :limit
    ) AS counted) AS recent,
    s.name_norm AS student_name_norm,
    s.stage AS student_stage,
    s.status AS student_status,
    s.school_code AS student_school_code,
    s.school_name AS student_school_name,
    s.district_code AS student_district_code,
    s.guardian1_id_number AS student_guardian1_id_number,
    s.guardian1_name_norm AS student_guardian1_name_norm,
    s.guardian2_id_number AS student_guardian2_id_number,
    s.guardian2_name_norm AS student_guardian2_name_norm,
    t.name_norm AS teacher_name_norm,
    t.status AS teacher_status,
    t.school_code AS teacher_school_code,
    t.school_name AS teacher_school_name,
    t.district_code AS teacher_district_code,
    c.*
FROM (SELECT CAST(:id_number AS VARCHAR(18)) AS id) AS q
LEFT JOIN students AS s ON s.id_number = q.id
LEFT JOIN teachers AS t ON t.id_number = q.id
LEFT JOIN cards AS c ON c.holder_id_number = q.id
"""

FIND_CARD = """
SELECT * FROM cards WHERE holder_id_number = :holder_id_number
"""

HAS_PROXY_CLAIM = """
SELECT 1 FROM proxy_claims
WHERE guardian_id_number = :guardian_id_number AND child_id_number = :child_id_number
"""

# A row back: this call took the slot; none: it was taken (the primary key
# is (guardian, slot), and (guardian, child) is unique).
TAKE_PROXY_SLOT = """
INSERT INTO proxy_claims (guardian_id_number, slot, child_id_number, created_at)
VALUES (:guardian_id_number, :slot, :child_id_number, :created_at)
ON CONFLICT DO NOTHING
RETURNING slot
"""

# A row back: the new card; none: the holder has a card already (or, rarely,
# the card number is taken). SQLite then logs the attempt with LOG_ATTEMPT
# in the same transaction; PostgreSQL runs INSERT_CARD_LOGGED instead.
INSERT_CARD = """
INSERT INTO cards (card_number, holder_id_number, holder_name, path, identities, permissions,
                   face_verification, claimed_by_guardian_id, channel_user, district_code, school_code,
                   school_name, created_at, updated_at)
VALUES (:card_number, :holder_id_number, :holder_name, :path, :identities, :permissions,
        :face_verification, :claimed_by_guardian_id, :channel_user, :district_code, :school_code,
        :school_name, :created_at, :updated_at)
ON CONFLICT DO NOTHING
RETURNING *
"""

# PostgreSQL: INSERT_CARD and the attempt's log row in one statement; the
# log row is written only when the card is.
INSERT_CARD_LOGGED = """
WITH card AS (
    INSERT INTO cards (card_number, holder_id_number, holder_name, path, identities, permissions,
                       face_verification, claimed_by_guardian_id, channel_user, district_code, school_code,
                       school_name, created_at, updated_at)
    VALUES (:card_number, :holder_id_number, :holder_name, :path, :identities, :permissions,
            :face_verification, :claimed_by_guardian_id, :channel_user, :district_code, :school_code,
            :school_name, :created_at, :updated_at)
    ON CONFLICT DO NOTHING
    RETURNING *
), logged AS (
    INSERT INTO claim_attempts (created_at, channel_user, action, path, id_hash, id_masked, name_masked,
                                guardian_id_hash, guardian_id_masked, success, failure_code, card_number,
                                district_code, school_code)
    SELECT :attempt_created_at, :attempt_channel_user, :attempt_action, :attempt_path, :attempt_id_hash,
           :attempt_id_masked, :attempt_name_masked, :attempt_guardian_id_hash, :attempt_guardian_id_masked,
           :attempt_success, :attempt_failure_code, :attempt_card_number, :attempt_district_code,
           :attempt_school_code
    FROM card
)
SELECT * FROM card
"""

UPDATE_CARD = """
UPDATE cards
SET identities = :identities, permissions = :permissions, district_code = :district_code,
    school_code = :school_code, school_name = :school_name, updated_at = :updated_at
WHERE id = :id
"""

LOG_ATTEMPT = """
INSERT INTO claim_attempts (created_at, channel_user, action, path, id_hash, id_masked, name_masked,
                            guardian_id_hash, guardian_id_masked, success, failure_code, card_number,
                            district_code, school_code)
VALUES (:created_at, :channel_user, :action, :path, :id_hash, :id_masked, :name_masked,
        :guardian_id_hash, :guardian_id_masked, :success, :failure_code, :card_number,
        :district_code, :school_code)
"""
