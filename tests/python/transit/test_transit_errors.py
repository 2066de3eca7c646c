"""Bad input: each a 4xx with a message naming the problem, no plaintext
in the answer, and the key unchanged afterwards."""

from __future__ import annotations

import pytest

from transit_helpers import assert_error, b64e, bad_input, ct_raw

PT = b64e(b"attack at dawn")


@pytest.fixture
def aes(transit, name):
    n = name("err")
    transit.create(n, exportable=True)
    ct = transit.encrypt(n, b"attack at dawn")
    return n, ct, transit.read(n)


def unchanged(transit, n, before):
    assert transit.read(n) == before, "a refused request changed the key"


def test_invalid_base64(transit, aes, shared_key):
    n, ct, before = aes
    assert_error(transit.post(f"encrypt/{n}", {"plaintext": "not base64!!"}), 400, "base64")
    # OpenBao: 500 for bad associated_data base64
    assert_error(transit.post(f"encrypt/{n}", {"plaintext": PT, "associated_data": "%%"}), bad_input(), "base64")
    assert_error(transit.post(f"encrypt/{n}", {"plaintext": PT, "context": "%%"}), 400, "base64")
    assert_error(transit.post(f"decrypt/{n}", {"ciphertext": "vault:v1:!!!!"}), 400, "base64|ciphertext")
    assert_error(transit.post(f"hmac/{n}", {"input": "%%%"}), 400, "base64")
    e = shared_key("ed25519")
    assert_error(transit.post(f"sign/{e}", {"input": "%%%"}), 400, "base64")
    assert_error(transit.post(f"verify/{e}", {"input": "%%%", "signature": "vault:v1:AAAA"}), 400, "base64")
    assert_error(transit.post(f"verify/{n}", {"input": "%%%", "hmac": "vault:v1:AAAA"}), 400, "base64")
    assert_error(transit.post(f"verify/{e}", {"input": b64e(b"x"), "signature": "vault:v1:%%%"}), 400, "base64")
    unchanged(transit, n, before)


def test_missing_required_fields(transit, aes, shared_key):
    n, ct, before = aes
    assert_error(transit.post(f"decrypt/{n}", {}), 400, "ciphertext")
    assert_error(transit.post(f"rewrap/{n}", {}), 400, "ciphertext")
    unchanged(transit, n, before)
    # (OpenBao does not refuse `signature` and `hmac` given together.)
    p = shared_key("ecdsa-p256")
    assert_error(transit.post(f"verify/{p}", {"input": PT}), 400, "signature|hmac")


def test_wrong_key_type_for_operation(transit, aes, shared_key):
    n, ct, before = aes
    assert_error(transit.post(f"sign/{n}", {"input": PT}), 400, "sign")
    assert_error(transit.post(f"verify/{n}", {"input": PT, "signature": "vault:v1:AAAA"}), 400, "sign|verif")
    unchanged(transit, n, before)
    e = shared_key("ed25519")
    ebefore = transit.read(e)
    assert_error(transit.post(f"encrypt/{e}", {"plaintext": PT}), 400, "encrypt")
    assert_error(transit.post(f"decrypt/{e}", {"ciphertext": ct}), 400, "decrypt|encrypt", no_plaintext=True)
    assert_error(transit.post(f"datakey/plaintext/{e}", {}), 400, "encrypt|datakey")
    unchanged(transit, e, ebefore)
    p = shared_key("ecdsa-p256")
    assert_error(transit.post(f"encrypt/{p}", {"plaintext": PT}), 400, "encrypt")
    # sign options that do not fit the key type
    assert_error(
        transit.post(f"sign/{p}", {"input": PT, "marshaling_algorithm": "nope"}), 400, "marshal"
    )
    r = shared_key("rsa-2048")
    assert_error(
        transit.post(f"sign/{r}", {"input": PT, "signature_algorithm": "nope"}), bad_input(), "signature|algorithm"
    )
    assert_error(transit.post(f"sign/{r}", {"input": PT, "hash_algorithm": "md5"}), 400, "hash|algorithm|md5")


def test_unknown_key(transit, name):
    # OpenBao: operations on a missing key are 400 "... not found"; reading
    # the key itself is a 404.
    n = name("missing")
    assert transit.get(f"keys/{n}").status == 404
    assert_error(transit.post(f"decrypt/{n}", {"ciphertext": "vault:v1:AAAA"}), 400, "not found")
    assert_error(transit.post(f"rewrap/{n}", {"ciphertext": "vault:v1:AAAA"}), 400, "not found")
    assert_error(transit.post(f"sign/{n}", {"input": PT}), 400, "not found")
    assert_error(transit.post(f"verify/{n}", {"input": PT, "signature": "vault:v1:AAAA"}), 400, "not found")
    assert_error(transit.post(f"hmac/{n}", {"input": PT}), 400, "not found")
    assert_error(transit.post(f"datakey/wrapped/{n}", {}), 400, "not found")
    assert_error(transit.post(f"keys/{n}/rotate"), (400, 404), "not found")
    assert transit.get(f"keys/{n}").status == 404


def test_version_out_of_range(transit, aes):
    n, ct, before = aes
    assert_error(transit.post(f"encrypt/{n}", {"plaintext": PT, "key_version": 9}), 400, "version")
    assert_error(transit.post(f"hmac/{n}", {"input": PT, "key_version": 9}), 400, "version")
    assert_error(transit.post(f"rewrap/{n}", {"ciphertext": ct, "key_version": 9}), 400, "version")
    _, raw = ct_raw(ct)
    assert_error(
        transit.post(f"decrypt/{n}", {"ciphertext": "vault:v9:" + b64e(raw)}), 400, "version", no_plaintext=True
    )
    # (OpenBao decrypts `vault:v0:` as version 1, so v0 is not tested.)
    assert_error(transit.get(f"export/encryption-key/{n}/9"), 400, "version")
    unchanged(transit, n, before)


def test_sign_version_out_of_range(transit, shared_key):
    e = shared_key("ecdsa-p384")
    before = transit.read(e)
    # OpenBao: 500 "requested version for signing is higher than the latest key version"
    assert_error(transit.post(f"sign/{e}", {"input": PT, "key_version": 5}), bad_input(), "version")
    unchanged(transit, e, before)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), id="tag-bit"),
        pytest.param(lambda raw: raw[:15] + bytes([raw[15] ^ 0x80]) + raw[16:], id="body-bit"),
        pytest.param(lambda raw: bytes([raw[0] ^ 1]) + raw[1:], id="nonce-bit"),
        pytest.param(lambda raw: raw[:-1], id="truncated-1"),
        pytest.param(lambda raw: raw[:12], id="nonce-only"),
        pytest.param(lambda raw: raw[:5], id="shorter-than-nonce"),
        pytest.param(lambda raw: b"", id="empty"),
        pytest.param(lambda raw: raw + b"\x00", id="extended"),
    ],
)
def test_tampered_ciphertext(transit, aes, mutate):
    n, ct, before = aes
    v, raw = ct_raw(ct)
    bad = f"vault:v{v}:" + b64e(mutate(raw))
    r = transit.post(f"decrypt/{n}", {"ciphertext": bad})
    assert_error(r, 400, "authenticat|decrypt|ciphertext|invalid|length|cipher", no_plaintext=True)
    assert "attack at dawn" not in r.text and PT not in r.text
    unchanged(transit, n, before)


@pytest.mark.parametrize(
    "bad",
    ["foo", "vault:", "vault:v1", "vault:vX:AAAA", "vault:v-1:AAAA", "vault:1:AAAA", "vaulty:v1:AAAA"],
)
def test_malformed_ciphertext(transit, aes, bad):
    n, ct, before = aes
    assert_error(transit.post(f"decrypt/{n}", {"ciphertext": bad}), 400, "ciphertext|version|prefix|invalid", no_plaintext=True)
    unchanged(transit, n, before)


def test_wrong_context(transit, name):
    n = name("err")
    transit.create(n, derived=True)
    ct = transit.encrypt(n, b"ctx secret", context=b64e(b"right"))
    before = transit.read(n)
    r = transit.post(f"decrypt/{n}", {"ciphertext": ct, "context": b64e(b"wrong")})
    assert_error(r, 400, "authenticat|decrypt|cipher", no_plaintext=True)
    assert b64e(b"ctx secret") not in r.text
    unchanged(transit, n, before)


def test_oversized_random(transit):
    assert_error(transit.post("random", {"bytes": 10 * 1024 * 1024}), 400, "bytes")


def test_bad_key_name_and_params_leave_mount_usable(transit, aes):
    n, ct, before = aes
    assert_error(transit.post(f"encrypt/{n}", {"plaintext": PT, "key_version": "x"}), 400)
    assert_error(transit.post(f"keys/{n}/config", {"min_decryption_version": "many"}), 400)
    unchanged(transit, n, before)
    assert transit.decrypt(n, ct) == b"attack at dawn"
