"""The same flows through hvac's `secrets.transit`, with mount_point set to
the nested mount path, results checked independently."""

from __future__ import annotations

import hashlib
import hmac

import hvac
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from transit_helpers import MOUNT, b64d, b64e, split_versioned


@pytest.fixture(scope="module")
def tr(server, transit):
    client = hvac.Client(url=server.addr, token=server.root_token)
    assert client.is_authenticated()
    return client.secrets.transit


def test_hvac_encrypt_decrypt_rotate(tr, name):
    n = name("hvac")
    tr.create_key(name=n, key_type="aes256-gcm96", exportable=True, mount_point=MOUNT)
    ct = tr.encrypt_data(name=n, plaintext=b64e(b"hvac secret"), mount_point=MOUNT)["data"]["ciphertext"]
    assert ct.startswith("vault:v1:")
    out = tr.decrypt_data(name=n, ciphertext=ct, mount_point=MOUNT)
    assert b64d(out["data"]["plaintext"]) == b"hvac secret"
    tr.rotate_key(name=n, mount_point=MOUNT)
    key = tr.read_key(name=n, mount_point=MOUNT)["data"]
    assert key["latest_version"] == 2 and key["type"] == "aes256-gcm96"
    ct2 = tr.encrypt_data(name=n, plaintext=b64e(b"v2"), mount_point=MOUNT)["data"]["ciphertext"]
    assert ct2.startswith("vault:v2:")
    # independent: decrypt with the exported key
    keys = tr.export_key(name=n, key_type="encryption-key", mount_point=MOUNT)["data"]["keys"]
    raw = b64d(split_versioned(ct2)[1])
    assert AESGCM(b64d(keys["2"])).decrypt(raw[:12], raw[12:], None) == b"v2"
    rewrapped = tr.rewrap_data(name=n, ciphertext=ct, mount_point=MOUNT)["data"]["ciphertext"]
    assert rewrapped.startswith("vault:v2:")
    assert b64d(tr.decrypt_data(name=n, ciphertext=rewrapped, mount_point=MOUNT)["data"]["plaintext"]) == b"hvac secret"


def test_hvac_batch(tr, name):
    n = name("hvac")
    tr.create_key(name=n, mount_point=MOUNT)
    res = tr.encrypt_data(
        name=n, batch_input=[{"plaintext": b64e(b"a")}, {"plaintext": b64e(b"b")}], mount_point=MOUNT
    )["data"]["batch_results"]
    out = tr.decrypt_data(name=n, batch_input=[{"ciphertext": x["ciphertext"]} for x in res], mount_point=MOUNT)
    assert [b64d(x["plaintext"]) for x in out["data"]["batch_results"]] == [b"a", b"b"]


def test_hvac_sign_verify(tr, name):
    n = name("hvac")
    tr.create_key(name=n, key_type="ecdsa-p256", mount_point=MOUNT)
    pem = tr.read_key(name=n, mount_point=MOUNT)["data"]["keys"]["1"]["public_key"]
    pub = serialization.load_pem_public_key(pem.encode())
    sig = tr.sign_data(name=n, hash_input=b64e(b"hvac msg"), hash_algorithm="sha2-384", mount_point=MOUNT)["data"]["signature"]
    pub.verify(b64d(split_versioned(sig)[1]), b"hvac msg", ec.ECDSA(hashes.SHA384()))
    ok = tr.verify_signed_data(name=n, hash_input=b64e(b"hvac msg"), signature=sig, hash_algorithm="sha2-384", mount_point=MOUNT)
    assert ok["data"]["valid"] is True
    bad = tr.verify_signed_data(name=n, hash_input=b64e(b"hvac msg!"), signature=sig, hash_algorithm="sha2-384", mount_point=MOUNT)
    assert bad["data"]["valid"] is False


def test_hvac_rsa_sign(tr, name, shared_key):
    n = shared_key("rsa-2048")
    pem = tr.read_key(name=n, mount_point=MOUNT)["data"]["keys"]["1"]["public_key"]
    pub = serialization.load_pem_public_key(pem.encode())
    sig = tr.sign_data(
        name=n, hash_input=b64e(b"r"), signature_algorithm="pkcs1v15", hash_algorithm="sha2-256", mount_point=MOUNT
    )["data"]["signature"]
    pub.verify(b64d(split_versioned(sig)[1]), b"r", padding.PKCS1v15(), hashes.SHA256())
    assert tr.verify_signed_data(
        name=n, hash_input=b64e(b"r"), signature=sig, signature_algorithm="pkcs1v15", mount_point=MOUNT
    )["data"]["valid"] is True


def test_hvac_datakey(tr, name):
    n = name("hvac")
    tr.create_key(name=n, mount_point=MOUNT)
    d = tr.generate_data_key(name=n, key_type="plaintext", bits=512, mount_point=MOUNT)["data"]
    assert len(b64d(d["plaintext"])) == 64
    assert tr.decrypt_data(name=n, ciphertext=d["ciphertext"], mount_point=MOUNT)["data"]["plaintext"] == d["plaintext"]
    w = tr.generate_data_key(name=n, key_type="wrapped", mount_point=MOUNT)["data"]
    assert "plaintext" not in w
    assert len(b64d(tr.decrypt_data(name=n, ciphertext=w["ciphertext"], mount_point=MOUNT)["data"]["plaintext"])) == 32


def test_hvac_hash_hmac_random(tr, name):
    out = tr.hash_data(hash_input=b64e(b"abc"), algorithm="sha2-512", output_format="hex", mount_point=MOUNT)
    assert out["data"]["sum"] == hashlib.sha512(b"abc").hexdigest()
    out = tr.hash_data(hash_input=b64e(b"abc"), algorithm="sha2-224", output_format="base64", mount_point=MOUNT)
    assert out["data"]["sum"] == b64e(hashlib.sha224(b"abc").digest())
    n = name("hvac")
    tr.create_key(name=n, exportable=True, mount_point=MOUNT)
    hkey = b64d(tr.export_key(name=n, key_type="hmac-key", version="1", mount_point=MOUNT)["data"]["keys"]["1"])
    mac = tr.generate_hmac(name=n, hash_input=b64e(b"abc"), algorithm="sha2-512", mount_point=MOUNT)["data"]["hmac"]
    assert mac == "vault:v1:" + b64e(hmac.new(hkey, b"abc", hashlib.sha512).digest())
    ok = tr.verify_signed_data(name=n, hash_input=b64e(b"abc"), hmac=mac, hash_algorithm="sha2-512", mount_point=MOUNT)
    assert ok["data"]["valid"] is True
    rnd = tr.generate_random_bytes(n_bytes=48, output_format="hex", mount_point=MOUNT)["data"]["random_bytes"]
    assert len(bytes.fromhex(rnd)) == 48


def test_hvac_config_backup_restore_trim(tr, name):
    n = name("hvac")
    tr.create_key(name=n, exportable=True, allow_plaintext_backup=True, mount_point=MOUNT)
    ct = tr.encrypt_data(name=n, plaintext=b64e(b"keep"), mount_point=MOUNT)["data"]["ciphertext"]
    tr.rotate_key(name=n, mount_point=MOUNT)
    backup = tr.backup_key(name=n, mount_point=MOUNT)["data"]["backup"]
    new = name("hvac-restored")
    tr.restore_key(backup=backup, name=new, mount_point=MOUNT)
    assert b64d(tr.decrypt_data(name=new, ciphertext=ct, mount_point=MOUNT)["data"]["plaintext"]) == b"keep"
    tr.rotate_key(name=n, mount_point=MOUNT)
    # (hvac itself insists on min_encryption_version > min_decryption_version)
    tr.update_key_configuration(name=n, min_decryption_version=2, min_encryption_version=3, mount_point=MOUNT)
    tr.trim_key(name=n, min_version=2, mount_point=MOUNT)
    assert sorted(tr.read_key(name=n, mount_point=MOUNT)["data"]["keys"]) == ["2", "3"]
    assert n in tr.list_keys(mount_point=MOUNT)["data"]["keys"]
    tr.update_key_configuration(name=n, deletion_allowed=True, mount_point=MOUNT)
    tr.delete_key(name=n, mount_point=MOUNT)
    with pytest.raises(hvac.exceptions.InvalidPath):
        tr.read_key(name=n, mount_point=MOUNT)


def test_hvac_errors_raise(tr, name):
    n = name("hvac")
    tr.create_key(name=n, key_type="ed25519", mount_point=MOUNT)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        tr.encrypt_data(name=n, plaintext=b64e(b"x"), mount_point=MOUNT)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        tr.decrypt_data(name=name("missing"), ciphertext="vault:v1:AAAA", mount_point=MOUNT)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        tr.export_key(name=n, key_type="signing-key", mount_point=MOUNT)
