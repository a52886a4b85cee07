"""EXTRA_CA_CERTS: collect the PEM certificates and stage them for the image builds."""

from __future__ import annotations

import shutil
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

STAGE = Path(".build/ca-certificates")  # inside the build context; see .dockerignore


def collect(source: Path) -> dict[str, bytes]:
    """Certificates in a file or a folder, by file name. Raises ValueError, naming the file."""
    files = sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else [source]
    found = {}
    for path in files:
        data = path.read_bytes()
        try:
            certificates = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise ValueError(f"{path} holds no PEM certificate") from None
        for number, certificate in enumerate(certificates):
            found[f"{path.stem}-{number}.crt"] = certificate.public_bytes(Encoding.PEM)
    if not found:
        raise ValueError(f"{source} holds no PEM certificate")
    return found


def stage(root: Path, source: str) -> int:
    """Write the certificates into the build context (empty when none); return how many.

    Files are rewritten only when they change, so that the build cache holds.
    """
    directory = root / STAGE
    wanted = collect(root / source) if source else {}
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():
        if stale.name not in wanted and stale.name != ".keep":
            stale.unlink() if stale.is_file() else shutil.rmtree(stale)
    (directory / ".keep").touch()
    for name, data in wanted.items():
        target = directory / name
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
    return len(wanted)
