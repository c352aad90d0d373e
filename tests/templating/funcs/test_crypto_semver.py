"""sprig crypto (hashes, derivePassword, AES, bcrypt, certificates) and semver."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from shared.templating.errors import FunctionError
from shared.templating.gofmt import format_value
from shared.templating.values import GoStruct

F = dict[str, Callable[..., Any]]


def test_hashes(fn: F) -> None:
    assert fn["sha1sum"]("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert fn["sha256sum"]("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert fn["sha512sum"]("abc").startswith("ddaf35a193617aba")
    assert fn["adler32sum"]("abc") == "38600999"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("long", "ZedaFaxcZaso9*"), ("maximum", "pf4zS1LjCg&LjhsZ7T2~"), ("pin", "6685")],
)
def test_derive_password(fn: F, kind: str, expected: str) -> None:
    assert fn["derivePassword"](1, kind, "password", "user", "example.com") == expected


def test_derive_password_unknown_template(fn: F) -> None:
    assert fn["derivePassword"](1, "nope", "p", "u", "s") == "cannot find password template nope"


def test_aes_round_trip(fn: F) -> None:
    crypt = fn["encryptAES"]("secretkey", "plaintext")
    assert len(base64.b64decode(crypt)) == 32  # IV + one block
    assert fn["decryptAES"]("secretkey", crypt) == "plaintext"
    with pytest.raises(FunctionError):
        fn["decryptAES"]("k", "not base64!")


def test_bcrypt_and_htpasswd(fn: F) -> None:
    assert fn["bcrypt"]("x").startswith("$2a$10$")
    assert fn["htpasswd"]("user", "pw").startswith("user:$2a$10$")
    assert fn["htpasswd"]("a:b", "pw") == "invalid username: a:b"


def test_uuid_and_rand_bytes(fn: F) -> None:
    u = fn["uuidv4"]()
    assert len(u) == 36 and u[14] == "4"
    assert len(base64.b64decode(fn["randBytes"](12))) == 12


def test_certificates(fn: F) -> None:
    ca = fn["genCA"]("my-ca", 30)
    assert isinstance(ca, GoStruct)
    assert ca.field("Cert").startswith("-----BEGIN CERTIFICATE-----")
    assert ca.field("Key").startswith("-----BEGIN RSA PRIVATE KEY-----")
    cert = fn["genSignedCert"]("svc", ["10.0.0.1"], ["svc.local"], 30, ca)
    assert cert.field("Cert").startswith("-----BEGIN CERTIFICATE-----")
    self_signed = fn["genSelfSignedCert"]("x", None, None, 1)
    assert self_signed.has_field("Key")
    custom = fn["buildCustomCert"](
        base64.b64encode(ca.field("Cert").encode()).decode(),
        base64.b64encode(ca.field("Key").encode()).decode(),
    )
    assert custom.field("Cert") == ca.field("Cert")
    with pytest.raises(FunctionError):
        fn["genSignedCert"]("svc", None, None, 30, "not a ca")


@pytest.mark.parametrize("kind", ["ecdsa", "ed25519"])
def test_private_keys(fn: F, kind: str) -> None:
    assert fn["genPrivateKey"](kind).startswith("-----BEGIN ")
    assert fn["genPrivateKey"]("nope") == "Unknown type nope"


def test_semver_object(fn: F) -> None:
    v = fn["semver"]("1.2.3-beta.1+c0ff33")
    assert v.field("Major") == 1 and v.field("Prerelease") == "beta.1"
    assert v.field("Metadata") == "c0ff33"
    assert format_value(v) == "1.2.3-beta.1+c0ff33"
    assert v.go_methods()["Compare"](fn["semver"]("1.2.3")) == -1
    with pytest.raises(FunctionError, match="invalid semantic version"):
        fn["semver"]("bogus")


@pytest.mark.parametrize(
    ("constraint", "version", "expected"),
    [
        ("1.2.3", "1.2.3", True),
        ("^1.2.0", "1.2.3", True),
        ("^1.2.0", "2.2.3", False),
        ("^0.2.3", "0.2.9", True),
        ("^0.2.3", "0.3.0", False),
        (">=1.28.0", "v1.29.0", True),
        ("<1.20", "1.29.0", False),
        ("~1.28.0", "1.29.0", False),
        ("~1.28", "1.28.9", True),
        (">=1.28.0-0", "v1.29.0+k3s1", True),
        (">=1.0", "1.1.0-beta", False),
        (">= 1.2, < 3.0", "2.0.0", True),
        ("<1.0 || >=2.0", "2.1.0", True),
        ("1.2 - 1.4.5", "1.4.6", False),
        ("1.x", "1.9.0", True),
        ("*", "5.0.0", True),
        ("!=1.2.3", "1.2.4", True),
    ],
)
def test_semver_compare(fn: F, constraint: str, version: str, expected: bool) -> None:
    assert fn["semverCompare"](constraint, version) is expected


def test_semver_compare_errors(fn: F) -> None:
    with pytest.raises(FunctionError, match="invalid semantic version"):
        fn["semverCompare"](">=1.0", "not-a-version")
    with pytest.raises(FunctionError, match="improper constraint"):
        fn["semverCompare"]("><1", "1.0.0")
