"""encrypt / decrypt / rewrap / datakey: round trips, prefixes, associated
data, upsert, derivation, convergent encryption, batches."""

from __future__ import annotations

import os

import pytest

from transit_helpers import assert_error, b64d, b64e, ct_raw, split_versioned

SYM_TYPES = ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"]
CTX_A = b64e(b"context-a")
CTX_B = b64e(b"context-b")


@pytest.mark.parametrize("key_type", SYM_TYPES)
def test_round_trip(transit, name, key_type):
    n = name(key_type)
    transit.create(n, type=key_type)
    for plaintext in [b"a", b"hello world", bytes(range(256)), os.urandom(4096)]:
        r = transit.post(f"encrypt/{n}", {"plaintext": b64e(plaintext)})
        assert r.status == 200, r
        ct = r.data["ciphertext"]
        assert ct.startswith("vault:v1:"), ct
        assert r.data["key_version"] == 1
        version, raw = ct_raw(ct)
        assert version == 1
        # 96-bit nonce || ciphertext || 128-bit tag
        assert len(raw) == 12 + len(plaintext) + 16
        assert plaintext not in raw or len(plaintext) < 4
        r = transit.post(f"decrypt/{n}", {"ciphertext": ct})
        assert r.status == 200, r
        assert b64d(r.data["plaintext"]) == plaintext
    # random nonces: two encryptions of the same plaintext differ
    assert transit.encrypt(n, b"same") != transit.encrypt(n, b"same")


def test_round_trip_rsa(transit, shared_key):
    n = shared_key("rsa-2048")
    ct = transit.encrypt(n, b"rsa secret")
    version, raw = ct_raw(ct)
    assert version == 1 and len(raw) == 256
    assert transit.decrypt(n, ct) == b"rsa secret"


def test_empty_plaintext(transit, name):
    n = name()
    transit.create(n)
    r = transit.post(f"encrypt/{n}", {"plaintext": ""})
    assert r.status == 200, r
    v, raw = ct_raw(r.data["ciphertext"])
    assert v == 1 and len(raw) == 12 + 16
    r = transit.post(f"decrypt/{n}", {"ciphertext": r.data["ciphertext"]})
    assert r.status == 200, r
    assert r.data["plaintext"] == ""


def test_associated_data(transit, name):
    n = name()
    transit.create(n)
    ad = b64e(b"header-v1")
    ct = transit.encrypt(n, b"payload", associated_data=ad)
    assert transit.decrypt(n, ct, associated_data=ad) == b"payload"
    assert_error(transit.post(f"decrypt/{n}", {"ciphertext": ct}), 400, no_plaintext=True)
    assert_error(
        transit.post(f"decrypt/{n}", {"ciphertext": ct, "associated_data": b64e(b"header-v2")}),
        400,
        no_plaintext=True,
    )


def test_key_version_for_encrypt(transit, name):
    n = name()
    transit.create(n)
    transit.post(f"keys/{n}/rotate")
    transit.post(f"keys/{n}/rotate")
    for v in (1, 2, 3):
        r = transit.post(f"encrypt/{n}", {"plaintext": "aGk=", "key_version": v})
        assert r.status == 200, r
        assert r.data["ciphertext"].startswith(f"vault:v{v}:")
        assert r.data["key_version"] == v
    assert split_versioned(transit.encrypt(n, b"x"))[0] == 3


# ------------------------------------------------------------------ upsert


def test_upsert_creates_default_key(transit, name):
    n = name("upsert")
    assert transit.get(f"keys/{n}").status == 404
    ct = transit.encrypt(n, b"created on the fly")
    d = transit.read(n)
    assert d["type"] == "aes256-gcm96"
    assert d["derived"] is False
    assert transit.decrypt(n, ct) == b"created on the fly"


def test_upsert_with_type(transit, name):
    n = name("upsert")
    ct = transit.encrypt(n, b"x", type="chacha20-poly1305")
    assert transit.read(n)["type"] == "chacha20-poly1305"
    assert transit.decrypt(n, ct) == b"x"


def test_upsert_with_context_makes_derived_key(transit, name):
    n = name("upsert")
    ct = transit.encrypt(n, b"x", context=CTX_A)
    assert transit.read(n)["derived"] is True
    assert transit.decrypt(n, ct, context=CTX_A) == b"x"


def test_decrypt_does_not_upsert(transit, name):
    n = name()
    assert_error(transit.post(f"decrypt/{n}", {"ciphertext": "vault:v1:AAAA"}), 400, "not found")
    assert transit.get(f"keys/{n}").status == 404


# ------------------------------------------------------------------ derivation


def test_derived_key_needs_context(transit, name):
    n = name()
    transit.create(n, derived=True)
    before = transit.read(n)
    assert_error(transit.post(f"encrypt/{n}", {"plaintext": "aGk="}), 400, "context")
    ct = transit.encrypt(n, b"hi", context=CTX_A)
    assert_error(transit.post(f"decrypt/{n}", {"ciphertext": ct}), 400, "context", no_plaintext=True)
    assert_error(
        transit.post(f"decrypt/{n}", {"ciphertext": ct, "context": CTX_B}), 400, no_plaintext=True
    )
    assert transit.decrypt(n, ct, context=CTX_A) == b"hi"
    assert_error(transit.post(f"rewrap/{n}", {"ciphertext": ct}), 400, "context")
    assert_error(transit.post(f"datakey/plaintext/{n}", {}), 400, "context")
    assert transit.read(n) == before


def test_derived_contexts_give_different_keys(transit, name):
    n = name()
    transit.create(n, derived=True)
    ct_a = transit.encrypt(n, b"same", context=CTX_A)
    ct_b = transit.encrypt(n, b"same", context=CTX_B)
    assert transit.decrypt(n, ct_a, context=CTX_A) == b"same"
    assert transit.decrypt(n, ct_b, context=CTX_B) == b"same"
    assert_error(transit.post(f"decrypt/{n}", {"ciphertext": ct_a, "context": CTX_B}), 400)


@pytest.mark.parametrize("key_type", SYM_TYPES)
def test_convergent_encryption(transit, name, key_type):
    n = name()
    transit.create(n, type=key_type, derived=True, convergent_encryption=True)
    c1 = transit.encrypt(n, b"plaintext", context=CTX_A)
    c2 = transit.encrypt(n, b"plaintext", context=CTX_A)
    assert c1 == c2, "convergent: same plaintext + context must give the same ciphertext"
    assert transit.encrypt(n, b"plaintext", context=CTX_B) != c1
    assert transit.encrypt(n, b"plaintexu", context=CTX_A) != c1
    assert transit.decrypt(n, c1, context=CTX_A) == b"plaintext"
    # after a rotation the ciphertext changes (new key) but stays convergent
    transit.post(f"keys/{n}/rotate")
    c3 = transit.encrypt(n, b"plaintext", context=CTX_A)
    assert c3.startswith("vault:v2:") and c3 == transit.encrypt(n, b"plaintext", context=CTX_A)
    assert transit.decrypt(n, c3, context=CTX_A) == b"plaintext"
    assert transit.decrypt(n, c1, context=CTX_A) == b"plaintext"


def test_non_convergent_derived_is_randomized(transit, name):
    n = name()
    transit.create(n, derived=True)
    assert transit.encrypt(n, b"p", context=CTX_A) != transit.encrypt(n, b"p", context=CTX_A)


# ------------------------------------------------------------------ rewrap


def test_rewrap(transit, name):
    n = name()
    transit.create(n)
    ct1 = transit.encrypt(n, b"secret")
    transit.post(f"keys/{n}/rotate")
    r = transit.post(f"rewrap/{n}", {"ciphertext": ct1})
    assert r.status == 200, r
    assert "plaintext" not in r.data
    ct2 = r.data["ciphertext"]
    assert ct2.startswith("vault:v2:")
    assert r.data["key_version"] == 2
    assert transit.decrypt(n, ct2) == b"secret"
    # rewrap to an explicit older version
    r = transit.post(f"rewrap/{n}", {"ciphertext": ct2, "key_version": 1})
    assert r.status == 200, r
    assert r.data["ciphertext"].startswith("vault:v1:")
    assert transit.decrypt(n, r.data["ciphertext"]) == b"secret"


def test_rewrap_derived(transit, name):
    n = name()
    transit.create(n, derived=True)
    ct1 = transit.encrypt(n, b"secret", context=CTX_A)
    transit.post(f"keys/{n}/rotate")
    ct2 = transit.ok("POST", f"rewrap/{n}", {"ciphertext": ct1, "context": CTX_A})["ciphertext"]
    assert ct2.startswith("vault:v2:")
    assert transit.decrypt(n, ct2, context=CTX_A) == b"secret"
    assert_error(transit.post(f"rewrap/{n}", {"ciphertext": ct1, "context": CTX_B}), 400)


def test_rewrap_tampered(transit, name):
    n = name()
    transit.create(n)
    v, raw = ct_raw(transit.encrypt(n, b"secret"))
    bad = f"vault:v{v}:" + b64e(raw[:-1] + bytes([raw[-1] ^ 1]))
    r = transit.post(f"rewrap/{n}", {"ciphertext": bad})
    assert_error(r, 400, no_plaintext=True)
    assert "ciphertext" not in ((r.body or {}).get("data") or {})


# ------------------------------------------------------------------ batches


def test_batch_encrypt_decrypt_order_and_reference(transit, name):
    n = name()
    transit.create(n)
    items = [os.urandom(i + 1) for i in range(8)]
    r = transit.post(
        f"encrypt/{n}",
        {"batch_input": [{"plaintext": b64e(p), "reference": f"ref-{i}"} for i, p in enumerate(items)]},
    )
    assert r.status == 200, r
    results = r.data["batch_results"]
    assert len(results) == len(items)
    assert [x.get("reference") for x in results] == [f"ref-{i}" for i in range(len(items))]
    cts = [x["ciphertext"] for x in results]
    assert all(c.startswith("vault:v1:") for c in cts)
    assert not any(x.get("error") for x in results)
    # batch decrypt, in reverse order, keeps the order given
    r = transit.post(
        f"decrypt/{n}",
        {"batch_input": [{"ciphertext": c, "reference": f"back-{i}"} for i, c in reversed(list(enumerate(cts)))]},
    )
    assert r.status == 200, r
    out = r.data["batch_results"]
    assert [x["reference"] for x in out] == [f"back-{i}" for i in reversed(range(len(items)))]
    assert [b64d(x["plaintext"]) for x in out] == list(reversed(items))
    # each ciphertext also decrypts on its own (no batch coupling)
    assert transit.decrypt(n, cts[3]) == items[3]


def test_batch_ignores_top_level_plaintext(transit, name):
    n = name()
    transit.create(n)
    r = transit.post(
        f"encrypt/{n}",
        {"plaintext": b64e(b"top"), "batch_input": [{"plaintext": b64e(b"item")}]},
    )
    assert r.status == 200, r
    (res,) = r.data["batch_results"]
    assert transit.decrypt(n, res["ciphertext"]) == b"item"


def test_batch_derived_contexts(transit, name):
    n = name()
    transit.create(n, derived=True)
    r = transit.post(
        f"encrypt/{n}",
        {
            "batch_input": [
                {"plaintext": b64e(b"one"), "context": CTX_A},
                {"plaintext": b64e(b"two"), "context": CTX_B},
            ]
        },
    )
    assert r.status == 200, r
    a, b = (x["ciphertext"] for x in r.data["batch_results"])
    assert transit.decrypt(n, a, context=CTX_A) == b"one"
    assert transit.decrypt(n, b, context=CTX_B) == b"two"
    # mismatched contexts in a batch decrypt fail item by item
    r = transit.post(
        f"decrypt/{n}",
        {"batch_input": [{"ciphertext": a, "context": CTX_A}, {"ciphertext": b, "context": CTX_A}]},
    )
    assert r.status == 400, r
    first, second = r.data["batch_results"]
    assert b64d(first["plaintext"]) == b"one" and not first.get("error")
    assert second.get("error") and not second.get("plaintext")


def test_batch_partial_failure(transit, name):
    n = name()
    transit.create(n)
    batch = [
        {"plaintext": b64e(b"good-0"), "reference": "r0"},
        {"plaintext": "%%% not base64 %%%", "reference": "r1"},
        {"plaintext": b64e(b"good-2"), "reference": "r2"},
    ]
    r = transit.post(f"encrypt/{n}", {"batch_input": batch})
    assert r.status == 400, r
    res = r.data["batch_results"]
    assert [x["reference"] for x in res] == ["r0", "r1", "r2"]
    assert res[1]["error"] and "base64" in res[1]["error"].lower()
    assert not res[1].get("ciphertext")
    assert transit.decrypt(n, res[0]["ciphertext"]) == b"good-0"
    assert transit.decrypt(n, res[2]["ciphertext"]) == b"good-2"
    assert not res[0].get("error") and not res[2].get("error")

    # partial_failure_response_code replaces the 400 when some items succeed
    r = transit.post(f"encrypt/{n}", {"batch_input": batch, "partial_failure_response_code": 207})
    assert r.status == 207, r
    assert len(r.data["batch_results"]) == 3
    # ...but not when every item fails
    r = transit.post(
        f"encrypt/{n}",
        {"batch_input": [batch[1], batch[1]], "partial_failure_response_code": 207},
    )
    assert r.status == 400, r
    assert all(x["error"] for x in r.data["batch_results"])


def test_batch_decrypt_partial_failure(transit, name):
    n = name()
    transit.create(n)
    good = transit.encrypt(n, b"fine")
    v, raw = ct_raw(good)
    tampered = f"vault:v{v}:" + b64e(raw[:12] + bytes([raw[12] ^ 0xFF]) + raw[13:])
    batch = [
        {"ciphertext": good, "reference": "a"},
        {"ciphertext": tampered, "reference": "b"},
    ]
    r = transit.post(f"decrypt/{n}", {"batch_input": batch})
    assert r.status == 400, r
    a, b = r.data["batch_results"]
    assert (a["reference"], b["reference"]) == ("a", "b")
    assert b64d(a["plaintext"]) == b"fine"
    assert b["error"] and not b.get("plaintext")
    r = transit.post(f"decrypt/{n}", {"batch_input": batch, "partial_failure_response_code": 299})
    assert r.status == 299, r


def test_batch_rewrap(transit, name):
    n = name()
    transit.create(n)
    cts = [transit.encrypt(n, bytes([i])) for i in range(3)]
    transit.post(f"keys/{n}/rotate")
    r = transit.post(
        f"rewrap/{n}", {"batch_input": [{"ciphertext": c, "reference": str(i)} for i, c in enumerate(cts)]}
    )
    assert r.status == 200, r
    res = r.data["batch_results"]
    assert [x["reference"] for x in res] == ["0", "1", "2"]
    for i, x in enumerate(res):
        assert x["ciphertext"].startswith("vault:v2:")
        assert transit.decrypt(n, x["ciphertext"]) == bytes([i])


# ------------------------------------------------------------------ datakey


@pytest.mark.parametrize("bits", [128, 256, 512])
def test_datakey_plaintext(transit, name, bits):
    n = name()
    transit.create(n)
    r = transit.post(f"datakey/plaintext/{n}", {"bits": bits})
    assert r.status == 200, r
    key = b64d(r.data["plaintext"])
    assert len(key) == bits // 8
    assert r.data["ciphertext"].startswith("vault:v1:")
    assert r.data.get("key_version", 1) == 1
    # the wrapped copy decrypts to the plaintext copy
    assert transit.decrypt(n, r.data["ciphertext"]) == key


@pytest.mark.parametrize("bits", [128, 256, 512])
def test_datakey_wrapped(transit, name, bits):
    n = name()
    transit.create(n)
    r = transit.post(f"datakey/wrapped/{n}", {"bits": bits})
    assert r.status == 200, r
    assert "plaintext" not in r.data
    key = transit.decrypt(n, r.data["ciphertext"])
    assert len(key) == bits // 8


def test_datakey_default_bits_and_uniqueness(transit, name):
    n = name()
    transit.create(n)
    a = transit.ok("POST", f"datakey/plaintext/{n}", {})
    b = transit.ok("POST", f"datakey/plaintext/{n}", {})
    assert len(b64d(a["plaintext"])) == 32
    assert a["plaintext"] != b["plaintext"]


def test_datakey_derived(transit, name):
    n = name()
    transit.create(n, derived=True)
    d = transit.ok("POST", f"datakey/plaintext/{n}", {"context": CTX_A})
    assert transit.decrypt(n, d["ciphertext"], context=CTX_A) == b64d(d["plaintext"])


def test_datakey_bad_input(transit, name):
    n = name()
    transit.create(n)
    assert_error(transit.post(f"datakey/plaintext/{n}", {"bits": 100}), 400, "bit")
    assert_error(transit.post(f"datakey/plaintext/{n}", {"bits": 1024}), 400, "bit")
    r = transit.post(f"datakey/bogus/{n}", {})
    assert_error(r, 400, "type|bogus|plaintext|wrapped")
    assert_error(transit.post(f"datakey/plaintext/{name()}", {}), 400, "not found")
