import stat

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

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
    assert set(secretfiles.ensure_secrets(directory)) == set(secretfiles.GENERATED)
    assert mode(directory) == 0o700
    tokens = {}
    for name in secretfiles.GENERATED:
        assert mode(directory / name) == 0o600
        tokens[name] = (directory / name).read_text()
        assert len(tokens[name].strip()) >= 32
    assert secretfiles.ensure_secrets(directory) == []
    assert {name: (directory / name).read_text() for name in tokens} == tokens
    assert secretfiles.loose_permissions(directory) == []
    (directory / "proxy_token").chmod(0o644)
    assert secretfiles.loose_permissions(directory) == [directory / "proxy_token"]
