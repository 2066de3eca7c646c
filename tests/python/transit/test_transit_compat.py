"""What an older build made still works: `data/compat.json` holds Transit
keys (plaintext backups) and ciphertexts and signatures made with them by
the build before the host's keys moved from RustCrypto to AWS-LC (see
`make_compat_fixture.py`). Restored here, every ciphertext decrypts to its
plaintext and every signature verifies with the parameters it was made
with, and fails on another input; new signatures still verify with
Python's `cryptography` elsewhere in this suite (`test_transit_crypto.py`).
"""

from __future__ import annotations

import json
import pathlib

import pytest

from transit_helpers import b64d, on_openbao

FIXTURE = json.loads((pathlib.Path(__file__).parent / "data" / "compat.json").read_text())

pytestmark = pytest.mark.skipif(on_openbao(), reason="Coffer's own backups")


@pytest.fixture(scope="module")
def restored(transit):
    names = {}
    for name, entry in FIXTURE["keys"].items():
        target = f"{name}-restored"
        r = transit.post(f"restore/{target}", {"backup": entry["backup"]})
        assert r.status in (200, 204), r
        names[name] = target
    return names


@pytest.mark.parametrize("name", sorted(FIXTURE["keys"]))
def test_old_ciphertexts_decrypt(transit, restored, name):
    entry = FIXTURE["keys"][name]
    for item in entry["ciphertexts"]:
        plaintext = transit.decrypt(restored[name], item["ciphertext"], **item["params"])
        assert plaintext == b64d(entry["plaintext"])


@pytest.mark.parametrize("name", sorted(FIXTURE["keys"]))
def test_old_signatures_verify(transit, restored, name):
    entry = FIXTURE["keys"][name]
    for item in entry["signatures"]:
        data = b64d(item["input"])
        params = item["params"]
        assert transit.verify(restored[name], data, item["signature"], **params), params
        other = bytes([data[0] ^ 1]) + data[1:]
        assert not transit.verify(restored[name], other, item["signature"], **params), params


def test_the_fixture_covers_every_key_family():
    types = {entry["type"] for entry in FIXTURE["keys"].values()}
    assert {"aes256-gcm96", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048", "ed25519"} <= types
    assert sum(len(e["signatures"]) for e in FIXTURE["keys"].values()) >= 15
