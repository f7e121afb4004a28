#!/usr/bin/env python3
"""Independent verifier of a C2SP tlog-proof beside a bt-exec program, for
interoperability tests. Written from the specs alone (C2SP tlog-proof,
signed-note, tlog-checkpoint, tlog-cosignature, RFC 6962 inclusion proofs,
the bt-exec entry of DESIGN section 3) with pyca/cryptography and cbor2;
it shares no code with the Rust implementation.

usage: verify_proof.py PROOF PROGRAM LOG_VKEY QUORUM WITNESS_VKEY...
QUORUM: how many of the witnesses must have cosigned the checkpoint.
Prints one JSON object: {"ok": true, "index": N, "size": S} or
{"ok": false, "why": "..."}; exits 0 either way (2 on usage errors).
"""
import base64
import hashlib
import json
import sys

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from verify_log import verify_note, leaf_hash, node  # noqa: E402


class Bad(Exception):
    pass


def check_note(note, log_vkey, witnesses, quorum):
    """verify_log.verify_note, its failures (which exit) turned into Bad."""
    try:
        size, root, cosigners = verify_note(note, log_vkey, witnesses)
    except SystemExit:
        raise Bad("the checkpoint does not verify with the log's key")
    if len(cosigners) < quorum:
        raise Bad("%d of the witnesses cosigned, %d needed" % (len(cosigners), quorum))
    return size, root


def root_from_inclusion(index, size, lh, proof):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        raise Bad("index past the tree")
    fn, sn, r = index, size - 1, lh
    for p in proof:
        if sn == 0:
            raise Bad("proof too long")
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Bad("proof too short")
    return r


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    proof_path, program, log_vkey, quorum = sys.argv[1:5]
    witnesses = sys.argv[5:]
    try:
        data = open(proof_path, "rb").read().decode()
        head, sep, note = data.partition("\n\n")
        if not sep:
            raise Bad("no checkpoint")
        lines = head.split("\n")
        if lines[0] != "c2sp.org/tlog-proof@v1":
            raise Bad("not a tlog-proof")
        if not lines[1].startswith("extra "):
            raise Bad("no extra line")
        leaf = base64.b64decode(lines[1][6:], validate=True)
        if not lines[2].startswith("index "):
            raise Bad("no index line")
        index = int(lines[2][6:])
        proof = [base64.b64decode(l, validate=True) for l in lines[3:]]
        size, root = check_note(note.encode(), log_vkey, witnesses, int(quorum))
        if root_from_inclusion(index, size, leaf_hash(leaf), proof) != root:
            raise Bad("inclusion proof does not reach the root")
        st, pub, sig = cbor2.loads(leaf)
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(sig, b"bt-exec release v1\n" + st)
        except Exception:
            raise Bad("publisher signature")
        m = cbor2.loads(st)
        body = open(program, "rb").read()
        if m["sha256"] != hashlib.sha256(body).digest() or m["size"] != len(body):
            raise Bad("the entry is for other bytes")
        print(json.dumps({"ok": True, "index": index, "size": size}))
    except Bad as e:
        print(json.dumps({"ok": False, "why": str(e)}))
    except Exception as e:  # malformed input of any kind
        print(json.dumps({"ok": False, "why": "malformed: %r" % (e,)}))


if __name__ == "__main__":
    main()
