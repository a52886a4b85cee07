import datetime
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jhdeploy import certs, secretfiles


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_self_signed_certificate_covers_localhost_and_the_fqdn(tmp_path):
    cert_path, key_path = tmp_path / "c.crt", tmp_path / "c.key"
    assert certs.ensure_self_signed(cert_path, key_path, "hub.example.org")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert set(certs.names_in(cert)) >= {"hub.example.org", "localhost", "127.0.0.1"}
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    assert mode(key_path) == 0o600


def test_certificate_is_kept_until_the_names_change(tmp_path):
    cert_path, key_path = tmp_path / "c.crt", tmp_path / "c.key"
    certs.ensure_self_signed(cert_path, key_path, "")
    first = cert_path.read_bytes()
    assert not certs.ensure_self_signed(cert_path, key_path, "")
    assert cert_path.read_bytes() == first
    assert certs.ensure_self_signed(cert_path, key_path, "hub.example.org")
    assert cert_path.read_bytes() != first


def test_secrets_are_owner_only_and_never_overwritten(tmp_path):
    directory = tmp_path / "secrets"
    assert set(secretfiles.ensure_secrets(directory)) == {secret.file for secret in secretfiles.generated()}
    assert mode(directory) == 0o700
    tokens = {}
    for name in (secret.file for secret in secretfiles.generated()):
        assert mode(directory / name) == 0o600
        tokens[name] = (directory / name).read_text()
        assert len(tokens[name].strip()) >= 22  # 128 bits or more
    assert secretfiles.ensure_secrets(directory) == []
    assert {name: (directory / name).read_text() for name in tokens} == tokens
    assert secretfiles.loose_permissions(directory) == []
    (directory / "proxy_token").chmod(0o644)
    assert secretfiles.loose_permissions(directory) == [directory / "proxy_token"]


def test_the_generated_certificate_is_a_leaf_never_a_ca(tmp_path):
    cert_path, key_path = tmp_path / "c.crt", tmp_path / "c.key"
    certs.ensure_self_signed(cert_path, key_path, "")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is False
    assert certs.generated_here(cert)


def test_a_certificate_we_did_not_make_is_never_replaced(tmp_path):
    cert_path, key_path = tmp_path / "jupyterhub.crt", tmp_path / "jupyterhub.key"
    foreign, foreign_key = own_certificate("intranet.example.org")  # no localhost among its names
    cert_path.write_bytes(foreign)
    key_path.write_bytes(foreign_key)
    no_san = tmp_path / "nosan.crt"
    no_san.write_bytes(own_certificate("x.example.org", with_san=False)[0])
    for path in (cert_path, no_san):
        with pytest.raises(ValueError, match="was not made by `invoke setup`, so no task replaces it"):
            certs.ensure_self_signed(path, key_path, "")
    assert cert_path.read_bytes() == foreign and key_path.read_bytes() == foreign_key


def own_certificate(name: str, with_san: bool = True, days: int = 30, key=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Institution CA")]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=days)))
    if with_san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def test_an_own_certificate_is_checked_before_anything_starts(tmp_path):
    cert, key = own_certificate("*.example.org")
    (tmp_path / "own.crt").write_bytes(cert)
    (tmp_path / "own.key").write_bytes(key)
    (tmp_path / "other.key").write_bytes(own_certificate("x")[1])
    assert certs.own_problems(tmp_path / "own.crt", tmp_path / "own.key", "hub.example.org") == []
    (wrong_name,) = certs.own_problems(tmp_path / "own.crt", tmp_path / "own.key", "hub.other.org")
    assert "is for *.example.org, not for JH_FQDN='hub.other.org'" in wrong_name
    (wrong_key,) = certs.own_problems(tmp_path / "own.crt", tmp_path / "other.key", "hub.example.org")
    assert "is not the key of the certificate in SSL_CERT_PATH" in wrong_key
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=60)
    (expired,) = certs.own_problems(tmp_path / "own.crt", tmp_path / "own.key", "hub.example.org", now=later)
    assert "not now" in expired
