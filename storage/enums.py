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
    CONTROL = "control"  # 管制
    PROBATION = "probation"  # 缓刑
    PAROLE = "parole"  # 假释
    TEMPORARY_OUTSIDE = "temporary_outside"  # 暂予监外执行


class SupervisionLevel(StrEnum):
    STRICT = "strict"  # 严管
    ORDINARY = "ordinary"  # 普管
    LENIENT = "lenient"  # 宽管


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"


class PersonStatus(StrEnum):
    ACTIVE = "active"
    RELEASED = "released"  # 解除矫正
    REVOKED = "revoked"  # 撤销缓刑/假释, 收监
    TRANSFERRED = "transferred"


class EmploymentStatus(StrEnum):
    EMPLOYED = "employed"
    UNEMPLOYED = "unemployed"
    STUDENT = "student"
    RETIRED = "retired"
    UNKNOWN = "unknown"


class CheckinStatus(StrEnum):
    VERIFIED = "verified"
    NEEDS_REVIEW = "needs_review"
    REJECTED = "rejected"
    FAILED = "failed"  # the photo was unusable (quality gate); kept as an attempt
    ACCEPTED = "accepted"
    CONFIRMED_VIOLATION = "confirmed_violation"


class CheckinKind(StrEnum):
    SCHEDULED = "scheduled"
    SPOT_CHECK = "spot_check"
    LEAVE_RETURN = "leave_return"
    ACTIVITY = "activity"  # attendance at an education or community-service session, checked at the venue


class Reason(StrEnum):
    FACE_MISMATCH = "face_mismatch"
    FACE_INCONCLUSIVE = "face_inconclusive"
    MULTIPLE_FACES = "multiple_faces"
    OUTSIDE_AREA = "outside_area"
    LOCATION_INACCURATE = "location_inaccurate"
    LATE = "late"
    DEVICE_NOT_BOUND = "device_not_bound"
    DUPLICATE_IMAGE = "duplicate_image"
    LIVENESS_FAILED = "liveness_failed"
    NO_REFERENCES = "no_references"
    TOO_FEW_REFERENCES = "too_few_references"
    REFERENCES_NOT_ENCODED = "references_not_encoded"
    TASK_LATE = "task_late"
    OUTSIDE_SESSION_TIME = "outside_session_time"  # an attendance check-in or check-out outside the session
    MISSING_CHECK_OUT = "missing_check_out"  # an attendance that was never checked out


class ReviewDecision(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


class LeaveStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    ACTIVE = "active"
    RETURNED = "returned"
    OVERDUE = "overdue"


class ApprovalLevel(StrEnum):
    OFFICE = "office"
    COUNTY = "county"


class TaskKind(StrEnum):
    SPOT_CHECK = "spot_check"
    VIDEO_INSPECTION = "video_inspection"


class TaskStatus(StrEnum):
    OPEN = "open"
    PROCESSING = "processing"
    COMPLETED = "completed"
    MISSED = "missed"
    CANCELLED = "cancelled"


class AlertType(StrEnum):
    MISSED_CHECKIN = "missed_checkin"
    SPOT_CHECK_MISSED = "spot_check_missed"
    FACE_MISMATCH = "face_mismatch"
    OUTSIDE_AREA = "outside_area"
    LEAVE_OVERDUE = "leave_overdue"
    DEVICE_CHANGED = "device_changed"
    REPEATED_FAILURES = "repeated_failures"
    VIDEO_INSPECTION_FAILED = "video_inspection_failed"
    VIDEO_INSPECTION_MISSED = "video_inspection_missed"
    EVIDENCE_INTEGRITY = "evidence_integrity"  # a stored photo or frame is missing or fails its integrity check
    # Location supervision between check-ins (supervision/tracking.py, docs/location.md).
    LEFT_COUNTY_WITHOUT_LEAVE = "left_county_without_leave"  # 不假外出
    EXCLUSION_ZONE_ENTERED = "exclusion_zone_entered"  # 禁止令
    CURFEW_BREACH = "curfew_breach"
    LOCATION_GAP = "location_gap"
    LOCATION_SPOOF_SUSPECTED = "location_spoof_suspected"
    PERSON_PHONE_SEPARATION = "person_phone_separation"  # 人机分离
    HOURS_SHORTFALL = "hours_shortfall"  # a month closed below the level's study or community-service hours


class AlertStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class SanctionKind(StrEnum):
    ADMONITION = "admonition"  # 训诫
    WARNING = "warning"  # 警告
    POLICE_PENALTY_REQUEST = "police_penalty_request"  # 提请治安管理处罚
    REVOCATION_REQUEST = "revocation_request"  # 提请撤销缓刑/假释
    RETURN_TO_PRISON = "return_to_prison"  # 收监执行


class ZoneKind(StrEnum):
    INCLUSION = "inclusion"  # the home area or the county of residence; approved leave adds one at the destination
    EXCLUSION = "exclusion"  # a place a prohibition order (禁止令) bans, optionally only at certain hours
    CURFEW = "curfew"  # be inside this area (default: the home area) between the given hours


class ZoneScope(StrEnum):
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
    GROUP_EDUCATION = "group_education"  # 集中教育
    COMMUNITY_SERVICE = "community_service"  # 公益活动 / 社区服务
    SKILLS_TRAINING = "skills_training"  # 职业技能培训
    LEGAL_EDUCATION = "legal_education"  # 法治教育
    PSYCHOLOGICAL_EDUCATION = "psychological_education"  # 心理健康教育 (group sessions; 1:1 counselling is a talk)


class ActivityStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class AttendanceStatus(StrEnum):
    CHECKED_IN = "checked_in"  # checked in at the venue, check-out still to come
    VERIFIED = "verified"  # checked in and out at the venue with verified faces: the hours count
    NEEDS_REVIEW = "needs_review"  # outside the venue or the session, a face to review, or no check-out
    CONFIRMED = "confirmed"  # an officer confirmed it (or recorded it for a person without a phone)
    REJECTED = "rejected"  # an officer rejected it: no hours


class AttendanceSource(StrEnum):
    PHONE = "phone"
    OFFICER = "officer"


class AttendanceDecision(StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"


class TalkKind(StrEnum):
    INDIVIDUAL_TALK = "individual_talk"  # 个别谈话
    COUNSELLING = "counselling"  # 心理辅导


class MessageKind(StrEnum):
    DUTY_WINDOW_OPEN = "duty_window_open"
    SPOT_CHECK = "spot_check"
    VIDEO_INSPECTION = "video_inspection"
    LEAVE_DECIDED = "leave_decided"
    LEAVE_RETURN_DUE = "leave_return_due"
    ACTIVITY_NEAR = "activity_near"
    SHORTFALL_COMING = "shortfall_coming"
    OFFICER = "officer"


class DeliveryStatus(StrEnum):
    INBOX_ONLY = "inbox_only"  # no sender beyond the inbox is configured
    SENDING = "sending"  # a delivery job holds it
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed
