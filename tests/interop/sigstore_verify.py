#!/usr/bin/env python3
"""Independent Sigstore bundle verifier for bt-exec's interoperability tests
(test-only): a thin wrapper around the sigstore-python library (PyPI
`sigstore`, pinned in tests/requirements.txt), used fully offline with the
given trusted-root file (no TUF, no network).

usage: sigstore_verify.py --bundle FILE --trusted-root FILE
           (--certificate-identity SAN --certificate-oidc-issuer URL | --key KEY.pem)
           ARTIFACT
ARTIFACT is a file path or `sha256:HEX`.
       sigstore_verify.py --batch
reads one JSON array of the arguments above a line on stdin and answers
each with its JSON line (the library is imported once, not once a case).

Prints one JSON line {"verdict": "pass"|"fail"|"unsupported", "error": "..."}
and exits 0 whatever the verdict (2 only for its own usage errors, missing
files included). A bundle or trusted root that does not parse is a "fail".
sigstore-python 4.x has no public-key (managed-key) verification policy, so
`--key` gives "unsupported". A DSSE bundle passes only if its payload is an
in-toto statement with a subject whose sha256 is the artifact's (as
`sigstore verify` does).
"""
import argparse
import hashlib
import json
import logging
import os
import re
import sys

# Imported up front: a missing library must crash, never read as a "fail".
from sigstore import dsse
from sigstore.errors import VerificationError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity
from sigstore_models.common.v1 import HashAlgorithm


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--trusted-root", required=True)
    p.add_argument("--certificate-identity")
    p.add_argument("--certificate-oidc-issuer")
    p.add_argument("--key")
    p.add_argument("artifact")
    a = p.parse_args(argv)
    keyless = a.certificate_identity is not None and a.certificate_oidc_issuer is not None
    if keyless == (a.key is not None):
        p.error("give either --certificate-identity and --certificate-oidc-issuer, or --key")
    if a.artifact.startswith("sha256:"):
        if not re.fullmatch(r"sha256:[0-9a-fA-F]{64}", a.artifact):
            p.error("ARTIFACT sha256:HEX needs 64 hex digits")
    elif not os.path.isfile(a.artifact):
        p.error(f"no such file: {a.artifact}")
    for path in (a.bundle, a.trusted_root, a.key):
        if path is not None and not os.path.isfile(path):
            p.error(f"no such file: {path}")  # a test's own mistake, never a "fail"
    return a


def artifact_digest(spec):
    """sigstore Hashed for a path or `sha256:HEX`."""
    if spec.startswith("sha256:"):
        digest = bytes.fromhex(spec[len("sha256:"):])
    else:
        with open(spec, "rb") as f:
            digest = hashlib.sha256(f.read()).digest()
    return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)


def verify(args):
    """Raises on any verification failure; returns None on success."""
    hashed = artifact_digest(args.artifact)
    with open(args.bundle, "rb") as f:
        bundle = Bundle.from_json(f.read())
    verifier = Verifier(trusted_root=TrustedRoot.from_file(args.trusted_root))
    policy = Identity(identity=args.certificate_identity, issuer=args.certificate_oidc_issuer)
    if bundle._dsse_envelope is None:
        verifier.verify_artifact(input_=hashed, bundle=bundle, policy=policy)
        return
    # Same steps as sigstore-python's own CLI (_cli._verify_common).
    payload_type, payload = verifier.verify_dsse(bundle=bundle, policy=policy)
    if payload_type != dsse.Envelope._TYPE:
        raise VerificationError(f"expected in-toto payload type, got {payload_type}")
    if not dsse.Statement(payload)._matches_digest(hashed):
        raise VerificationError(f"in-toto statement has no subject for digest {hashed.digest.hex()}")


def main(argv):
    logging.disable(logging.CRITICAL)
    if argv == ["--batch"]:
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(answer(parse_args(json.loads(line)))), flush=True)
        return 0
    print(json.dumps(answer(parse_args(argv))))
    return 0


def answer(args):
    """The verdict on one set of arguments."""
    if args.key is not None:
        out = {"verdict": "unsupported",
               "error": "sigstore-python has no public-key (managed-key) verification policy"}
    else:
        try:
            verify(args)
            out = {"verdict": "pass", "error": ""}
        except Exception as e:  # any exception, parse errors included, is a failed verification
            out = {"verdict": "fail", "error": " ".join(f"{type(e).__name__}: {e}".split())}
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
