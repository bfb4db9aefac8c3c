"""A toy transport for tests: registered at import, it declares its own profile key (``dock``),
address, lock key, deploy pointer and state, so tests can check that edgekit asks the transport
record instead of knowing transport names."""

from __future__ import annotations

from edgekit.transports import TRANSPORTS
from edgekit.transports.base import Survey, Transport


class ToyTransport(Transport):
    kind = "toy"
    profile_keys = {"dock": (str,)}
    required_keys = {"dock": 'add dock = "bay-N"'}
    deploy_pointer = "file"
    default_deploy_dir = "/toy/deploy"
    default_workdir = "/toy/tmp"

    @classmethod
    def check_profile(cls, data, fail) -> None:
        if not data["dock"].startswith("bay-"):
            raise fail(f"dock {data['dock']!r} is not a bay", 'use dock = "bay-N"')

    @classmethod
    def address(cls, profile) -> str:
        return f"toy://{profile.options['dock']}"

    @classmethod
    def lock_key(cls, profile) -> str:
        return f"toy-{profile.options['dock']}"

    @classmethod
    def survey(cls, profiles, timeout: float) -> Survey:
        return Survey(
            states={p.name: {"state": "docked", "detail": f"in {p.options['dock']} (timeout {timeout:g})"} for p in profiles},
            discovered=[{"kind": "toy", "id": "bay-9", "state": "empty", "detail": "no profile"}],
            notes=["toy survey ran"],
        )


if "toy" not in TRANSPORTS:
    TRANSPORTS.register("toy", ToyTransport)
