"""Delivery of inbox messages beyond the inbox: after a commit that created messages, one job hands them to the
configured sender (supervision.messages), so the request never waits for the gateway."""

from __future__ import annotations

import logging
from functools import partial

from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from storage.db import Database
from supervision import messages
from web.jobs import jobs

log = logging.getLogger(__name__)


def init_app(app: Flask, database: Database) -> None:
    """Choose the sender from config; with one that delivers, queue a delivery job after each such commit."""
    sender = messages.sender_from_config(app.config["CHECKIN"])
    app.extensions["checkin.message_sender"] = sender
    if not isinstance(sender, messages.WebhookSender) or database.session_factory is None:
        return
    event.listen(database.session_factory, "after_commit", partial(_after_commit, app, sender))


def _after_commit(app: Flask, sender: messages.WebhookSender, session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint release is not the commit that makes the messages durable
    ids = messages.take_new_message_ids(session)
    if not ids:
        return
    # Jobs may commit from threads without an app context (e.g. a video inspection); enqueue needs one.
    try:
        with app.app_context():
            jobs.enqueue(messages.deliver_messages_job, message_ids=ids, webhook=sender.settings())
    except Exception:  # noqa: BLE001  (the work is committed: a queue outage must not turn the answer into a 500)
        log.exception("could not queue the delivery of messages %s; they stay in the inbox", ids)
