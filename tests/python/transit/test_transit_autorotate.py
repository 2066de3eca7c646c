"""Auto-rotation, on a restarted server whose engine clock runs ahead.

Coffer-only: it uses two Coffer configuration settings,
`dev_insecure_clock_offset` (the engines' clock runs that far ahead) and
`engine_periodic_interval`. The key is made on a server without offset, on
persistent storage; the server is stopped and started again on the same
file with a 2 h offset and a 1 s periodic interval: the key (period 1 h,
created "2 h ago" as the engine now sees it) must then be rotated by the
periodic call alone — which also proves rotation survives a restart.
"""

from __future__ import annotations

import time

import pytest

from transit_helpers import Api, CofferProcess, b64e, on_openbao, split_versioned

pytestmark = pytest.mark.skipif(
    on_openbao(), reason="needs Coffer's dev_insecure_clock_offset (no OpenBao equivalent)"
)

MOUNT = "a/b/transit"
WAIT = 20.0


def _config(path, db, extra=""):
    path.write_text(
        f'storage "redb" {{ path = "{db}" }}\n'
        'listener "tcp" {\n  address = "127.0.0.1:0"\n  tls_disable = true\n}\n'
        f"{extra}"
    )
    return str(path)


def test_auto_rotation_after_restart_with_clock_ahead(tmp_path):
    db = tmp_path / "coffer.redb"
    first = _config(tmp_path / "first.hcl", db, 'engine_periodic_interval = "1s"\n')
    second = _config(
        tmp_path / "second.hcl",
        db,
        'dev_insecure_clock_offset = "2h"\nengine_periodic_interval = "1s"\n',
    )

    server = CofferProcess(["--config", first])
    try:
        # A config-mode server starts uninitialised: init with one share, unseal.
        r = Api(server.addr, None).put("sys/init", {"secret_shares": 1, "secret_threshold": 1})
        assert r.status == 200, r
        unseal_key = r.body["keys"][0]
        token = r.body["root_token"]
        r = Api(server.addr, None).put("sys/unseal", {"key": unseal_key})
        assert r.status == 200 and r.body["sealed"] is False, r
        api = Api(server.addr, token)
        r = api.post(f"sys/mounts/{MOUNT}", {"type": "transit"})
        assert r.status in (200, 204), f"cannot mount transit: {r}"
        m = api
        p = f"{MOUNT}/"
        for key, params in [
            ("auto", {"auto_rotate_period": "1h"}),
            ("auto-long", {"auto_rotate_period": "3h"}),
            ("manual", {}),
        ]:
            r = m.post(p + f"keys/{key}", params)
            assert r.status in (200, 204), r
        r = m.post(p + "encrypt/auto", {"plaintext": b64e(b"before rotation")})
        assert r.status == 200, r
        old_ct = r.data["ciphertext"]
        # The periodic call runs (every 1 s) but nothing is due yet.
        time.sleep(2.5)
        assert m.get(p + "keys/auto").data["latest_version"] == 1
    finally:
        server.stop()

    server = CofferProcess(["--config", second])
    try:
        # Restarted sealed; the periodic call runs only once unsealed.
        r = Api(server.addr, None).put("sys/unseal", {"key": unseal_key})
        assert r.status == 200 and r.body["sealed"] is False, r
        api = Api(server.addr, token)
        deadline = time.monotonic() + WAIT
        latest = None
        while time.monotonic() < deadline:
            r = api.get(f"{MOUNT}/keys/auto")
            assert r.status == 200, f"key lost across the restart: {r}"
            latest = r.data["latest_version"]
            if latest >= 2:
                break
            time.sleep(0.5)
        assert latest == 2, (
            f"key with auto_rotate_period=1h not rotated within {WAIT}s "
            f"(latest_version {latest}); server stderr tail:\n{server.stderr()[-3000:]}"
        )
        d = api.get(f"{MOUNT}/keys/auto").data
        assert d["auto_rotate_period"] == 3600
        # the new version was made on the engine clock, 2 h ahead
        created = {int(v): t for v, t in d["keys"].items()}
        assert created[2] - created[1] >= 7200 - 120, created
        # no other key moved
        assert api.get(f"{MOUNT}/keys/auto-long").data["latest_version"] == 1
        assert api.get(f"{MOUNT}/keys/manual").data["latest_version"] == 1
        # old ciphertexts still decrypt; new ones use v2
        r = api.post(f"{MOUNT}/decrypt/auto", {"ciphertext": old_ct})
        assert r.status == 200, r
        r = api.post(f"{MOUNT}/encrypt/auto", {"plaintext": b64e(b"after")})
        assert split_versioned(r.data["ciphertext"])[0] == 2
        # and it does not rotate again until the next period is due
        time.sleep(3)
        assert api.get(f"{MOUNT}/keys/auto").data["latest_version"] == 2
    finally:
        server.stop()
