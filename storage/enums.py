"""Statuses and codes, one enum per concept; stored as their snake_case string values."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Who an account or a token acts as."""

    PERSON = "person"  # a person under community supervision, on the phone app
    OFFICER = "officer"  # staff of one judicial office (司法所): sees that office
    ADMIN = "admin"  # county administration (司法局): sees every office of its county


# The staff roles, as the plain strings tokens carry and role guards compare.
STAFF_ROLES: tuple[str, ...] = (Role.OFFICER.value, Role.ADMIN.value)


class SentenceType(StrEnum):
    """The kind of community correction a person serves (社区矫正的适用类型)."""

    CONTROL = "control"  # 管制
    PROBATION = "probation"  # 缓刑
    PAROLE = "parole"  # 假释
    TEMPORARY_OUTSIDE = "temporary_outside"  # 暂予监外执行


class SupervisionLevel(StrEnum):
    """How closely a person is supervised; it sets their check-in duties and monthly hours."""

    STRICT = "strict"  # 严管
    ORDINARY = "ordinary"  # 普管
    LENIENT = "lenient"  # 宽管


class Gender(StrEnum):
    """A person's gender as recorded at intake."""

    MALE = "male"
    FEMALE = "female"


class PersonStatus(StrEnum):
    """Where a person stands in their term of supervision."""

    ACTIVE = "active"  # under supervision now
    RELEASED = "released"  # 解除矫正
    REVOKED = "revoked"  # 撤销缓刑/假释, 收监
    TRANSFERRED = "transferred"  # transferred out: supervised elsewhere now


class EmploymentStatus(StrEnum):
    """A person's work situation as last recorded by their office."""

    EMPLOYED = "employed"
    UNEMPLOYED = "unemployed"
    STUDENT = "student"
    RETIRED = "retired"
    UNKNOWN = "unknown"  # not recorded yet


class CheckinStatus(StrEnum):
    """The outcome of a check-in: the machine's decision, or an officer's review of it."""

    VERIFIED = "verified"  # face, place, time and device all passed
    NEEDS_REVIEW = "needs_review"  # something is unclear (see its reasons): an officer decides
    REJECTED = "rejected"  # another face, or a photo used before: an officer decides
    FAILED = "failed"  # the photo was unusable (quality gate); kept as an attempt
    ACCEPTED = "accepted"  # an officer accepted it on review: it counts like verified
    CONFIRMED_VIOLATION = "confirmed_violation"  # an officer confirmed it as a violation on review


class CheckinKind(StrEnum):
    """What a check-in answers."""

    SCHEDULED = "scheduled"  # a duty check-in in the person's window
    SPOT_CHECK = "spot_check"  # the answer to an officer's spot check (a task)
    LEAVE_RETURN = "leave_return"  # the report back from leave (销假)
    ACTIVITY = "activity"  # attendance at an education or community-service session, checked at the venue


class Reason(StrEnum):
    """Why a check-in is not simply verified; a check-in keeps every reason that applied."""

    FACE_MISMATCH = "face_mismatch"  # the face is farther from the references than the reject threshold
    FACE_INCONCLUSIVE = "face_inconclusive"  # between the thresholds, or a verify the second opinion vetoed
    MULTIPLE_FACES = "multiple_faces"
    OUTSIDE_AREA = "outside_area"  # outside the home area and every approved leave destination (越界)
    LOCATION_INACCURATE = "location_inaccurate"  # the position is coarser than the accuracy the policy asks
    LATE = "late"  # received longer after its capture than the policy allows
    DEVICE_NOT_BOUND = "device_not_bound"  # sent from a phone other than the person's bound one
    DUPLICATE_IMAGE = "duplicate_image"  # the same photo bytes were used by this person before
    LIVENESS_FAILED = "liveness_failed"  # the liveness challenge was not passed
    NO_REFERENCES = "no_references"  # the person has no reference photo to match against
    TOO_FEW_REFERENCES = "too_few_references"  # fewer references than the calibration assumed
    REFERENCES_NOT_ENCODED = "references_not_encoded"  # no reference has this engine's template
    TASK_LATE = "task_late"  # a spot check answered after its deadline
    OUTSIDE_SESSION_TIME = "outside_session_time"  # an attendance check-in or check-out outside the session
    MISSING_CHECK_OUT = "missing_check_out"  # an attendance that was never checked out


class ReviewDecision(StrEnum):
    """An officer's decision on a check-in or a video inspection waiting for review."""

    ACCEPT = "accept"
    REJECT = "reject"


class LeaveStatus(StrEnum):
    """The states of a leave request (transitions in supervision/leave.py)."""

    PENDING = "pending"  # asked, not decided yet
    APPROVED = "approved"  # granted, not started yet
    REJECTED = "rejected"
    CANCELLED = "cancelled"  # withdrawn by the person before it started
    ACTIVE = "active"  # started: the person is away
    RETURNED = "returned"  # the return (销假) was accepted
    OVERDUE = "overdue"  # not reported back by its end plus the grace period


class ApprovalLevel(StrEnum):
    """Who decides a leave request: the office for short leave, the county administration for long."""

    OFFICE = "office"
    COUNTY = "county"


class TaskKind(StrEnum):
    """What an officer asked a person to do by a deadline."""

    SPOT_CHECK = "spot_check"
    VIDEO_INSPECTION = "video_inspection"


class TaskStatus(StrEnum):
    """Where a task stands."""

    OPEN = "open"  # waiting for the person's answer
    PROCESSING = "processing"  # a video clip arrived and is being analysed
    COMPLETED = "completed"  # answered (a check-in, or a processed clip)
    MISSED = "missed"  # not answered by its deadline
    CANCELLED = "cancelled"


class AlertType(StrEnum):
    """What an alert reports to the office; each is raised once per its dedupe key."""

    MISSED_CHECKIN = "missed_checkin"  # duty windows closed without a fulfilling check-in
    SPOT_CHECK_MISSED = "spot_check_missed"
    FACE_MISMATCH = "face_mismatch"  # a check-in rejected, or confirmed as a violation on review
    OUTSIDE_AREA = "outside_area"  # a check-in, or a confirmed run of location fixes, outside the allowed area
    LEAVE_OVERDUE = "leave_overdue"
    DEVICE_CHANGED = "device_changed"  # a check-in from a phone that is not the bound one
    REPEATED_FAILURES = "repeated_failures"  # several failed or rejected attempts within a short window
    VIDEO_INSPECTION_FAILED = "video_inspection_failed"
    VIDEO_INSPECTION_MISSED = "video_inspection_missed"
    EVIDENCE_INTEGRITY = "evidence_integrity"  # a stored photo or frame is missing or fails its integrity check
    # Location supervision between check-ins (supervision/tracking.py, docs/location.md).
    LEFT_COUNTY_WITHOUT_LEAVE = "left_county_without_leave"  # 不假外出
    EXCLUSION_ZONE_ENTERED = "exclusion_zone_entered"  # 禁止令
    CURFEW_BREACH = "curfew_breach"
    LOCATION_GAP = "location_gap"  # tracking is on but no fix came for too long (phone or location off)
    LOCATION_SPOOF_SUSPECTED = "location_spoof_suspected"
    PERSON_PHONE_SEPARATION = "person_phone_separation"  # 人机分离
    HOURS_SHORTFALL = "hours_shortfall"  # a month closed below the level's study or community-service hours


class AlertStatus(StrEnum):
    """Whether an alert still waits for an officer."""

    OPEN = "open"
    RESOLVED = "resolved"  # dismissed or answered with a sanction, with a note


class SanctionKind(StrEnum):
    """The measures an office records against a breach, in rising order."""

    ADMONITION = "admonition"  # 训诫
    WARNING = "warning"  # 警告
    POLICE_PENALTY_REQUEST = "police_penalty_request"  # 提请治安管理处罚
    REVOCATION_REQUEST = "revocation_request"  # 提请撤销缓刑/假释
    RETURN_TO_PRISON = "return_to_prison"  # 收监执行


class ZoneKind(StrEnum):
    """What a location zone means for a person's location fixes."""

    INCLUSION = "inclusion"  # the home area or the county of residence; approved leave adds one at the destination
    EXCLUSION = "exclusion"  # a place a prohibition order (禁止令) bans, optionally only at certain hours
    CURFEW = "curfew"  # be inside this area (default: the home area) between the given hours


class ZoneScope(StrEnum):
    """Which area an inclusion zone stands for."""

    HOME = "home"  # leaving it is 越界 (outside_area)
    COUNTY = "county"  # leaving it is 不假外出 (left_county_without_leave)


class LocationSignal(StrEnum):
    """Why a location or person-phone separation (人机分离) alert was raised; kept in the alert's evidence."""

    MOCK_LOCATION = "mock_location"
    IMPOSSIBLE_SPEED = "impossible_speed"
    JUMP_WITHOUT_TRAVEL_TIME = "jump_without_travel_time"
    SPOT_CHECK_FACE_MISMATCH = "spot_check_face_mismatch"
    STATIONARY_PHONE_MISSED_SPOT_CHECK = "stationary_phone_missed_spot_check"
    CHECKIN_AFTER_WINDOW_OPENS_THEN_AWAY = "checkin_after_window_opens_then_away"
    CHECKIN_LOCATION_DISAGREES = "checkin_location_disagrees"


class ActivityKind(StrEnum):
    """The kinds of education and community-service sessions a person is invited to."""

    GROUP_EDUCATION = "group_education"  # 集中教育
    COMMUNITY_SERVICE = "community_service"  # 公益活动 / 社区服务
    SKILLS_TRAINING = "skills_training"  # 职业技能培训
    LEGAL_EDUCATION = "legal_education"  # 法治教育
    PSYCHOLOGICAL_EDUCATION = "psychological_education"  # 心理健康教育 (group sessions; 1:1 counselling is a talk)


class ActivityStatus(StrEnum):
    """Whether a session still takes place."""

    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class AttendanceStatus(StrEnum):
    """Where a person's attendance at a session stands, and whether its hours count."""

    CHECKED_IN = "checked_in"  # checked in at the venue, check-out still to come
    VERIFIED = "verified"  # checked in and out at the venue with verified faces: the hours count
    NEEDS_REVIEW = "needs_review"  # outside the venue or the session, a face to review, or no check-out
    CONFIRMED = "confirmed"  # an officer confirmed it (or recorded it for a person without a phone)
    REJECTED = "rejected"  # an officer rejected it: no hours


class AttendanceSource(StrEnum):
    """Who recorded an attendance."""

    PHONE = "phone"  # the person checked in and out on the phone
    OFFICER = "officer"  # an officer recorded it for a person without a phone


class AttendanceDecision(StrEnum):
    """An officer's decision on an attendance waiting for review."""

    CONFIRM = "confirm"
    REJECT = "reject"


class TalkKind(StrEnum):
    """The kinds of one-to-one talk an officer records."""

    INDIVIDUAL_TALK = "individual_talk"  # 个别谈话
    COUNSELLING = "counselling"  # 心理辅导


class MessageKind(StrEnum):
    """What a message in a person's inbox is about."""

    DUTY_WINDOW_OPEN = "duty_window_open"  # a duty window is open and the person has not checked in
    SPOT_CHECK = "spot_check"  # a spot check to answer
    VIDEO_INSPECTION = "video_inspection"  # a video inspection to answer
    LEAVE_DECIDED = "leave_decided"  # a leave request was approved or rejected
    LEAVE_RETURN_DUE = "leave_return_due"  # the return from leave is due soon
    ACTIVITY_NEAR = "activity_near"  # an invited session starts soon
    SHORTFALL_COMING = "shortfall_coming"  # the month ends soon with its hours still short
    OFFICER = "officer"  # written by an officer


class DeliveryStatus(StrEnum):
    """How far a message got beyond the inbox (push or SMS senders)."""

    INBOX_ONLY = "inbox_only"  # no sender beyond the inbox is configured
    SENDING = "sending"  # a delivery job holds it
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed
