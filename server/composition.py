"""The services of one process (database, blob store, face engine, clock, policies), built once from the loaded
configuration by build_services and shared by the app (create_app), the RQ worker (server.jobs) and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from storage.blobs import BlobStore, make_blob_store
from storage.db import Database
from supervision.clock import Clock

if TYPE_CHECKING:  # importing the engine and every rule module is left to the first use, as before
    from supervision.policies import Policies
    from verification.engine import FaceEngine


@dataclass(frozen=True)
class Services:
    """What the app, the worker and the CLI work with; the policies are the ones load_config built and checked."""

    config: Mapping[str, Any]
    database: Database
    clock: Clock
    policies: Policies

    @cached_property
    def blobs(self) -> BlobStore:
        """The blob store, made on first use (a command that stores nothing creates no blob folder)."""
        return make_blob_store(self.config)

    @property
    def engine(self) -> FaceEngine:
        """The process-wide face engine of these settings; its models load on first use, not at start-up."""
        from verification.engine import get_engine

        return get_engine(self.config["FACE_ENGINE"])

    def job_context(self) -> dict[str, Any]:
        """The keyword context a job function takes (web.jobs): open_session, blobs, engine and clock."""
        return {"open_session": self.database.session, "blobs": self.blobs, "engine": self.engine,
                "clock": self.clock}

    def close(self) -> None:
        """Close the database's connections."""
        if self.database.engine is not None:
            self.database.engine.dispose()


def build_services(config: Mapping[str, Any], *, echo_sql: bool = False) -> Services:
    """The services of a configuration resolved by server.config.load_config (a test may pass CLOCK)."""
    database = Database()
    database.configure(config["DATABASE_URL"], echo=echo_sql, keyring=config["KEYRING"])
    return Services(config=config, database=database, clock=config.get("CLOCK") or Clock(),
                    policies=config["POLICIES"])
