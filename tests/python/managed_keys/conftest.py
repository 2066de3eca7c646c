"""Fixtures of the managed-keys suite: a real SoftHSM2 token, a real
LocalStack (AWS KMS), and a Coffer dev server whose `kms_library "pkcs11"`
stanza names SoftHSM2's library.

- `softhsm` (session): a fresh token directory and `softhsm2.conf` in a
  temporary folder, two tokens made by `softhsm2-util --init-token`
  (`coffer-a`, whose slot number the tests also use, and `coffer-b`).
  The server and this process both reach them through `SOFTHSM2_CONF`.
- `server` / `api`: `coffer server --dev --config <file>` with
  `SOFTHSM2_CONF` in its environment.
- `hsm`: a python-pkcs11 view of the tokens, independent of the server,
  to make keys before the server uses them and to read public keys back
  by label.
- `azure_tls` / `azure` (session): a self-signed certificate (the server
  trusts it through `SSL_CERT_FILE`) and the test Azure Key Vault
  (`azure_keyvault_server.py`) serving with it.
- `gcp` (session): the test Google Cloud KMS (`gcp_kms_server.py`) and a
  service account's credentials file for it.
- `localstack` (session): LocalStack's KMS on a free port of 127.0.0.1,
  started from the virtualenv `scripts/setup.sh` makes
  (`COFFER_LOCALSTACK_PYTHON`), with its files in a temporary folder; and
  `aws`, a boto3 KMS client on it, independent of the server.

OpenBao has no managed keys (a Vault Enterprise feature), so with
`COFFER_TEST_TARGET=openbao` the suite is skipped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

_HERE = pathlib.Path(__file__).resolve().parent
for sub in ("transit", "pki"):
    path = str(_HERE.parent / sub)
    if path not in sys.path:
        sys.path.insert(0, path)

from transit_helpers import Api, CofferProcess, on_openbao  # noqa: E402

from hsm_helpers import Hsm  # noqa: E402

PIN = "1234"
SO_PIN = "5678"
LIBRARY_NAME = "softhsm"


def softhsm_library() -> str:
    for candidate in (
        os.environ.get("SOFTHSM2_LIB", ""),
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ):
        if candidate and pathlib.Path(candidate).is_file():
            return candidate
    pytest.fail("SoftHSM2 is not installed (scripts/setup.sh installs Debian's softhsm2)")


def pytest_collection_modifyitems(config, items):
    if on_openbao():
        skip = pytest.mark.skip(reason="OpenBao has no managed keys (Vault Enterprise only)")
        for item in items:
            if "managed_keys" in str(item.fspath):
                item.add_marker(skip)


@dataclasses.dataclass
class SoftHsm:
    directory: pathlib.Path
    conf: pathlib.Path
    library: str
    slot_a: int  # the slot of token coffer-a
    env: dict


def _init_token(env: dict, label: str) -> int:
    out = subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = re.search(r"reassigned to slot (\d+)", out)
    assert m, f"softhsm2-util said: {out}"
    return int(m.group(1))


@pytest.fixture(scope="session")
def softhsm() -> SoftHsm:
    if shutil.which("softhsm2-util") is None:
        pytest.fail("softhsm2-util is missing (scripts/setup.sh installs Debian's softhsm2)")
    directory = pathlib.Path(tempfile.mkdtemp(prefix="coffer-softhsm-"))
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    slot_a = _init_token(env, "coffer-a")
    _init_token(env, "coffer-b")
    # python-pkcs11 in this process reads the same configuration.
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        yield SoftHsm(directory, conf, softhsm_library(), slot_a, {"SOFTHSM2_CONF": str(conf)})
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def azure_tls(softhsm):
    """The test Azure Key Vault's self-signed certificate and key; the
    server trusts it through SSL_CERT_FILE (its only trusted root)."""
    from azure_keyvault_server import make_tls

    return make_tls(softhsm.directory)


@pytest.fixture(scope="session")
def azure(azure_tls):
    """The test Azure Key Vault (see azure_keyvault_server.py: the real
    REST wire protocol of the calls used, since no emulator exists)."""
    from azure_keyvault_server import FakeKeyVault

    vault = FakeKeyVault(azure_tls[1], azure_tls[2], tenant="00000000-0000-0000-0000-00000000c0ff",
                         client_id="coffer-test", secret="s3cret")
    try:
        yield vault
    finally:
        vault.stop()


@pytest.fixture(scope="session")
def gcp(softhsm):
    """The test Google Cloud KMS (see gcp_kms_server.py: the real REST wire
    protocol of the calls used, since no emulator exists), and a service
    account's credentials file for it."""
    from gcp_kms_server import FakeCloudKms, service_account

    kms = FakeCloudKms()
    kms.credentials = softhsm.directory / "gcp-credentials.json"
    kms.credentials.write_text(json.dumps(service_account(f"{kms.url}/token")))
    try:
        yield kms
    finally:
        kms.stop()


@pytest.fixture(scope="session")
def server(softhsm, azure_tls):
    config = softhsm.directory / "coffer.hcl"
    config.write_text(
        f'kms_library "pkcs11" {{\n  name = "SoftHSM"\n  library = "{softhsm.library}"\n}}\n'
        'kms_library "pkcs11" {\n  name = "missing"\n  library = "/nonexistent/libpkcs11.so"\n}\n'
    )
    proc = CofferProcess.dev(str(config), env={**softhsm.env, "SSL_CERT_FILE": str(azure_tls[0])})
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def api(server) -> Api:
    return Api(server.addr, server.root_token)


@pytest.fixture(scope="session")
def localstack():
    from localstack_process import LocalStack

    root = pathlib.Path(tempfile.mkdtemp(prefix="coffer-localstack-"))
    try:
        stack = LocalStack(root)
    except RuntimeError as e:
        pytest.fail(str(e))
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def aws(localstack):
    """A boto3 KMS client on LocalStack (not the server's)."""
    import boto3

    return boto3.client(
        "kms", endpoint_url=localstack.endpoint, region_name=localstack.region,
        aws_access_key_id=localstack.access_key, aws_secret_access_key=localstack.secret_key,
    )


@pytest.fixture(scope="session")
def hsm(softhsm) -> Hsm:
    h = Hsm(softhsm.library, PIN)
    try:
        yield h
    finally:
        h.close()
