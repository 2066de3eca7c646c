"""Writes `data/compat.json`: Transit keys (as plaintext backups) and the
ciphertexts and signatures a given Coffer build made with them, for
`test_transit_compat.py` to check against the build under test.

The committed file was made by the build before the host's keys moved to
AWS-LC (e31c798, RustCrypto), so the test shows that what that build
produced still decrypts and verifies. To make it again:

    COFFER_BIN=/path/to/old/coffer COFFER_REV="coffer <rev> (...)" \
        python3 tests/python/transit/make_compat_fixture.py

It starts `$COFFER_BIN server --dev` on a free port and stops it after.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from transit_helpers import Api, CofferProcess, b64e  # noqa: E402

OUT = pathlib.Path(__file__).parent / "data" / "compat.json"
MESSAGE = b"made before the move to AWS-LC"
PLAINTEXT = b"a secret that must still decrypt"

# (type, [sign params...], [encrypt params...])
KEYS = [
    ("aes256-gcm96", [], [{}]),
    ("chacha20-poly1305", [], [{}]),
    (
        "ecdsa-p256",
        [
            {},
            {"hash_algorithm": "sha2-512"},
            {"hash_algorithm": "sha2-224"},
            {"marshaling_algorithm": "jws"},
            {"prehashed": True, "hash_algorithm": "sha2-256"},
        ],
        [],
    ),
    ("ecdsa-p384", [{}, {"hash_algorithm": "sha2-384"}, {"marshaling_algorithm": "jws"}], []),
    ("ecdsa-p521", [{}, {"hash_algorithm": "sha2-512"}], []),
    (
        "rsa-2048",
        [
            {},
            {"signature_algorithm": "pkcs1v15"},
            {"signature_algorithm": "pss", "salt_length": "hash"},
            {"hash_algorithm": "sha2-512"},
            {"hash_algorithm": "sha3-256"},
        ],
        [{}],
    ),
    ("ed25519", [{}], []),
]


def main() -> None:
    import hashlib

    proc = CofferProcess.dev()
    try:
        api = Api(proc.addr, proc.root_token)
        transit = api.mount_transit("compat")
        made_by = os.environ.get("COFFER_REV", os.environ.get("COFFER_BIN", "target/debug/coffer"))
        out = {"made_by": made_by, "keys": {}}
        for key_type, signs, encrypts in KEYS:
            name = f"compat-{key_type}"
            r = transit.create(
                name, type=key_type, exportable=True, allow_plaintext_backup=True
            )
            assert r.status in (200, 204), r
            entry = {"type": key_type, "signatures": [], "ciphertexts": []}
            for params in signs:
                data = MESSAGE
                if params.get("prehashed"):
                    data = hashlib.sha256(MESSAGE).digest()
                signature = transit.sign(name, data, **params)
                entry["signatures"].append(
                    {"params": params, "input": b64e(data), "signature": signature}
                )
            for params in encrypts:
                entry["ciphertexts"].append(
                    {"params": params, "ciphertext": transit.encrypt(name, PLAINTEXT, **params)}
                )
            entry["plaintext"] = b64e(PLAINTEXT)
            entry["backup"] = transit.ok("GET", f"backup/{name}")["backup"]
            out["keys"][name] = entry
        OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        print(f"wrote {OUT}")
    finally:
        proc.stop()


if __name__ == "__main__":
    main()
