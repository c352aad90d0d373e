"""sprig crypto functions: hashes, derivePassword, AES, bcrypt, keys and certificates, UUIDs.

The deliberately slow ones are :func:`~shared.templating.budget.costly`: they start only
within the render's time budget, their working memory must fit its memory budget (typical
durations on one core: derivePassword (scrypt, 64 MiB) 0.15 s, bcrypt/htpasswd 0.1 s, an
RSA-4096 key 0.3-4 s, DSA-2048 1 s, a certificate with its RSA-2048 key 0.1 s). Their C code
releases the GIL.

bcrypt/htpasswd need the ``bcrypt`` package and the AES/key/certificate functions the
``cryptography`` package; both are imported when first used.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import ipaddress
import secrets
import struct
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from shared.templating.budget import costly
from shared.templating.funcs._base import FunctionError, gofunc
from shared.templating.gofmt import format_value
from shared.templating.values import GoStruct

__all__ = ["CRYPTO_FUNCS"]


def _b(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


@gofunc("string")
def sha1sum(s: str) -> str:
    return hashlib.sha1(_b(s)).hexdigest()


@gofunc("string")
def sha256sum(s: str) -> str:
    return hashlib.sha256(_b(s)).hexdigest()


@gofunc("string")
def sha512sum(s: str) -> str:
    return hashlib.sha512(_b(s)).hexdigest()


@gofunc("string")
def adler32sum(s: str) -> str:
    return str(zlib.adler32(_b(s)))


@gofunc()
def uuidv4() -> str:
    return str(uuid.uuid4())


@gofunc("int")
def rand_bytes(count: int) -> str:
    if count < 0 or count > 1_000_000:
        raise FunctionError("invalid byte count")
    return base64.b64encode(secrets.token_bytes(count)).decode("ascii")


# ---------------------------------------------------------------------------------------
# derivePassword (Master Password algorithm)

_TEMPLATES = {
    "maximum": ["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
    "long": [
        "CvcvnoCvcvCvcv", "CvcvCvcvnoCvcv", "CvcvCvcvCvcvno", "CvccnoCvcvCvcv",
        "CvccCvcvnoCvcv", "CvccCvcvCvcvno", "CvcvnoCvccCvcv", "CvcvCvccnoCvcv",
        "CvcvCvccCvcvno", "CvcvnoCvcvCvcc", "CvcvCvcvnoCvcc", "CvcvCvcvCvccno",
        "CvccnoCvccCvcv", "CvccCvccnoCvcv", "CvccCvccCvcvno", "CvcvnoCvccCvcc",
        "CvcvCvccnoCvcc", "CvcvCvccCvccno", "CvccnoCvcvCvcc", "CvccCvcvnoCvcc",
        "CvccCvcvCvccno",
    ],
    "medium": ["CvcnoCvc", "CvcCvcno"],
    "short": ["Cvcn"],
    "basic": ["aaanaaan", "aannaaan", "aaannaaa"],
    "pin": ["nnnn"],
}  # fmt: skip
_CHARS = {
    "V": "AEIOU",
    "C": "BCDFGHJKLMNPQRSTVWXYZ",
    "v": "aeiou",
    "c": "bcdfghjklmnpqrstvwxyz",
    "A": "AEIOUBCDFGHJKLMNPQRSTVWXYZ",
    "a": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
    "n": "0123456789",
    "o": "@&%?,=[]_:-+*$#!'^~;()/.",
    "x": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
}
_SEED = b"com.lyndir.masterpassword"
_SCRYPT_MEMORY = 64 * 1024 * 1024  # N=32768, r=8, p=2


@costly(memory=_SCRYPT_MEMORY, seconds=0.15)
@gofunc("uint32", "string", "string", "string", "string")
def derive_password(counter: int, ptype: str, password: str, user: str, site: str) -> str:
    templates = _TEMPLATES.get(ptype)
    if templates is None:
        return f"cannot find password template {ptype}"
    ub, sb = _b(user), _b(site)
    salt = _SEED + struct.pack(">I", len(ub)) + ub
    key = hashlib.scrypt(
        _b(password), salt=salt, n=32768, r=8, p=2, maxmem=_SCRYPT_MEMORY, dklen=64
    )
    msg = _SEED + struct.pack(">I", len(sb)) + sb + struct.pack(">I", counter & 0xFFFFFFFF)
    seed = hmac.new(key, msg, hashlib.sha256).digest()
    temp = templates[seed[0] % len(templates)]
    return "".join(_CHARS[c][seed[i + 1] % len(_CHARS[c])] for i, c in enumerate(temp))


# ---------------------------------------------------------------------------------------
# AES (CBC, key = password bytes zero-padded to 32, random IV prepended, base64)


def _aes() -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:  # pragma: no cover - dependency missing
        raise FunctionError("encryptAES/decryptAES need the 'cryptography' package") from None
    return Cipher, algorithms, modes


def _aes_key(password: str) -> bytes:
    return (_b(password) + bytes(32))[:32]


@gofunc("string", "string")
def encrypt_aes(password: str, plaintext: str) -> str:
    if plaintext == "":
        return ""
    cipher_cls, algorithms, modes = _aes()
    content = _b(plaintext)
    pad = 16 - len(content) % 16
    content += bytes([pad]) * pad
    iv = secrets.token_bytes(16)
    enc = cipher_cls(algorithms.AES(_aes_key(password)), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(content) + enc.finalize()).decode("ascii")


@gofunc("string", "string")
def decrypt_aes(password: str, crypt64: str) -> str:
    if crypt64 == "":
        return ""
    cipher_cls, algorithms, modes = _aes()
    try:
        crypt = base64.b64decode(_b(crypt64), validate=True)
    except ValueError as e:
        raise FunctionError(f"illegal base64 data: {e}") from None
    if len(crypt) < 16 or len(crypt) % 16:
        raise FunctionError("crypto/cipher: input not full blocks")
    dec = cipher_cls(algorithms.AES(_aes_key(password)), modes.CBC(crypt[:16])).decryptor()
    out = dec.update(crypt[16:]) + dec.finalize()
    if not out:
        raise FunctionError("runtime error: index out of range [-1]")
    n = out[-1]
    if n > len(out):
        raise FunctionError(f"runtime error: slice bounds out of range [:{len(out) - n}]")
    return str(out[: len(out) - n].decode("utf-8", "surrogateescape"))


# ---------------------------------------------------------------------------------------
# bcrypt / htpasswd


@costly(memory=4096, seconds=0.1)
@gofunc("string")
def bcrypt_f(s: str) -> str:
    try:
        import bcrypt
    except ImportError:  # pragma: no cover - dependency missing
        raise FunctionError("bcrypt needs the 'bcrypt' package") from None
    return bcrypt.hashpw(_b(s)[:72], bcrypt.gensalt(rounds=10, prefix=b"2a")).decode("ascii")


@costly(memory=4096, seconds=0.1)
@gofunc("string", "string")
def htpasswd(user: str, password: str) -> str:
    if ":" in user:
        return f"invalid username: {user}"
    return f"{user}:{bcrypt_f(password)}"


# ---------------------------------------------------------------------------------------
# keys and certificates


def _x509() -> Any:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:  # pragma: no cover - dependency missing
        raise FunctionError("certificate functions need the 'cryptography' package") from None
    return x509, hashes, serialization, rsa, ec, ed25519, dsa, NameOID, ExtendedKeyUsageOID


def _pem_key(key: Any) -> str:
    _x, _hashes, ser, _rsa, _ec, ed25519, _dsa, *_ = _x509()
    fmt = ser.PrivateFormat.TraditionalOpenSSL
    if isinstance(key, ed25519.Ed25519PrivateKey):
        fmt = ser.PrivateFormat.PKCS8
    return str(key.private_bytes(ser.Encoding.PEM, fmt, ser.NoEncryption()).decode("ascii"))


@costly(memory=1 << 20, seconds=1.0)
@gofunc("string")
def gen_private_key(typ: str) -> str:
    _, _, _, rsa, ec, ed25519, dsa, *_ = _x509()
    if typ == "":
        typ = "rsa"
    if typ == "rsa":
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    elif typ == "dsa":
        key = dsa.generate_private_key(key_size=2048)
    elif typ == "ecdsa":
        key = ec.generate_private_key(ec.SECP256R1())
    elif typ == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        return "Unknown type " + typ
    return _pem_key(key)


def _certificate(cert_pem: str, key_pem: str) -> GoStruct:
    return GoStruct("sprig.certificate", [("Cert", cert_pem), ("Key", key_pem)])


def _load_key(pem: str) -> Any:
    _, _, ser, *_ = _x509()
    try:
        return ser.load_pem_private_key(_b(pem), password=None)
    except (ValueError, TypeError) as e:
        raise FunctionError(f"error parsing private key: {e}") from None


def _make_cert(
    cn: str,
    ips: Any,
    dns: Any,
    days: int,
    *,
    is_ca: bool,
    key: Any = None,
    ca: GoStruct | None = None,
) -> GoStruct:
    x509, hashes, ser, rsa, _ec, _ed, _dsa, name_oid, eku = _x509()
    if key is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = _dt.datetime.now(_dt.UTC)
    subject = x509.Name([x509.NameAttribute(name_oid.COMMON_NAME, cn)])
    issuer = subject
    sign_key = key
    if ca is not None:
        ca_cert = x509.load_pem_x509_certificate(_b(str(ca.field("Cert"))))
        issuer = ca_cert.subject
        sign_key = _load_key(str(ca.field("Key")))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(secrets.randbits(127) | 1)
        .not_valid_before(now)
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([eku.SERVER_AUTH, eku.CLIENT_AUTH]), critical=False)
    )
    sans: list[Any] = []
    for ip in ips or []:
        if not isinstance(ip, str):
            raise FunctionError(f"error parsing ip: {format_value(ip)} is not a string")
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise FunctionError(f"error parsing ip: {ip}") from None
    for d in dns or []:
        if not isinstance(d, str):
            raise FunctionError(
                f"error processing alternate dns name: {format_value(d)} is not a string"
            )
        sans.append(x509.DNSName(d))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algo = None if isinstance(sign_key, _ed.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(sign_key, algo)
    return _certificate(cert.public_bytes(ser.Encoding.PEM).decode("ascii"), _pem_key(key))


def _ca_arg(ca: Any) -> GoStruct:
    if not isinstance(ca, GoStruct) or not ca.has_field("Cert"):
        raise FunctionError("wrong type for value; expected sprig.certificate")
    return ca


@costly(memory=1 << 20, seconds=0.1)
@gofunc("string", "int")
def gen_ca(cn: str, days: int) -> GoStruct:
    return _make_cert(cn, [], [], days, is_ca=True)


@costly(memory=1 << 20, seconds=0.1)
@gofunc("string", "int", "string")
def gen_ca_with_key(cn: str, days: int, key: str) -> GoStruct:
    return _make_cert(cn, [], [], days, is_ca=True, key=_load_key(key))


@costly(memory=1 << 20, seconds=0.1)
@gofunc("string", "[]interface {}", "[]interface {}", "int")
def gen_self_signed(cn: str, ips: Any, dns: Any, days: int) -> GoStruct:
    return _make_cert(cn, ips, dns, days, is_ca=False)


@costly(memory=1 << 20, seconds=0.1)
@gofunc("string", "[]interface {}", "[]interface {}", "int", "string")
def gen_self_signed_with_key(cn: str, ips: Any, dns: Any, days: int, key: str) -> GoStruct:
    return _make_cert(cn, ips, dns, days, is_ca=False, key=_load_key(key))


@costly(memory=1 << 20, seconds=0.1)
@gofunc("string", "[]interface {}", "[]interface {}", "int", "any")
def gen_signed(cn: str, ips: Any, dns: Any, days: int, ca: Any) -> GoStruct:
    return _make_cert(cn, ips, dns, days, is_ca=False, ca=_ca_arg(ca))


@costly(memory=1 << 20, seconds=0.1)
@gofunc("string", "[]interface {}", "[]interface {}", "int", "any", "string")
def gen_signed_with_key(cn: str, ips: Any, dns: Any, days: int, ca: Any, key: str) -> GoStruct:
    return _make_cert(cn, ips, dns, days, is_ca=False, ca=_ca_arg(ca), key=_load_key(key))


@gofunc("string", "string")
def build_custom_cert(b64cert: str, b64key: str) -> GoStruct:
    x509, *_ = _x509()
    try:
        cert = base64.b64decode(_b(b64cert), validate=True)
        key = base64.b64decode(_b(b64key), validate=True)
    except ValueError:
        raise FunctionError("unable to decode base64 certificate or key") from None
    try:
        x509.load_pem_x509_certificate(cert)
    except ValueError:
        raise FunctionError("error parsing certificate: decoded pem is not a cert") from None
    _load_key(key.decode("utf-8", "replace"))
    return _certificate(cert.decode("utf-8", "replace"), key.decode("utf-8", "replace"))


CRYPTO_FUNCS: dict[str, Callable[..., Any]] = {
    "sha1sum": sha1sum,
    "sha256sum": sha256sum,
    "sha512sum": sha512sum,
    "adler32sum": adler32sum,
    "uuidv4": uuidv4,
    "randBytes": rand_bytes,
    "derivePassword": derive_password,
    "encryptAES": encrypt_aes,
    "decryptAES": decrypt_aes,
    "bcrypt": bcrypt_f,
    "htpasswd": htpasswd,
    "genPrivateKey": gen_private_key,
    "buildCustomCert": build_custom_cert,
    "genCA": gen_ca,
    "genCAWithKey": gen_ca_with_key,
    "genSelfSignedCert": gen_self_signed,
    "genSelfSignedCertWithKey": gen_self_signed_with_key,
    "genSignedCert": gen_signed,
    "genSignedCertWithKey": gen_signed_with_key,
}
