"""SQLAlchemy models, one module per area; importing this package registers every table."""

from storage.models.activity import Activity, ActivityInvitation, Attendance, Talk
from storage.models.alert import Alert, Sanction
from storage.models.audit import AuditEvent
from storage.models.auth import AuthSession, IdempotencyRecord
from storage.models.checkin import Checkin
from storage.models.leave import LeaveRequest
from storage.models.location import LocationFix, LocationTracking, LocationZone
from storage.models.message import Message
from storage.models.org import Account, Office
from storage.models.person import Device, Person, ReferenceFace, ReferenceTemplate
from storage.models.security import LoginAttempt
from storage.models.task import LivenessChallenge, Task

__all__ = [
    "Account",
    "Activity",
    "ActivityInvitation",
    "Alert",
    "Attendance",
    "AuditEvent",
    "AuthSession",
    "Checkin",
    "Device",
    "IdempotencyRecord",
    "LeaveRequest",
    "LivenessChallenge",
    "LocationFix",
    "LocationTracking",
    "LocationZone",
    "LoginAttempt",
    "Message",
    "Office",
    "Person",
    "ReferenceFace",
    "ReferenceTemplate",
    "Sanction",
    "Talk",
    "Task",
]
