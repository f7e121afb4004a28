#!/usr/bin/env python3
"""Independent reader of a bt-exec log directory, for interoperability tests.

Written from the specs alone (C2SP signed-note, tlog-checkpoint,
tlog-cosignature, tlog-tiles, RFC 6962 and the bt-exec entry format of
DESIGN section 3), with pyca/cryptography for Ed25519 and cbor2 for CBOR.
It shares no code with the Rust implementation.

usage: verify_log.py LOGDIR LOG_VKEY [WITNESS_VKEY ...]
Prints one JSON object: size, root, cosigners (name -> timestamp), releases.
Exits non-zero with a message on the first disagreement.
"""
import base64
import hashlib
import json
import os
import sys

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def fail(msg):
    print("verify_log.py: " + msg, file=sys.stderr)
    sys.exit(1)


def parse_vkey(vkey):
    name, keyid, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    if hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() != keyid:
        fail("key id mismatch in " + vkey)
    return name, raw[0], Ed25519PublicKey.from_public_bytes(raw[1:])


def key_id(name, alg, pub):
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + pub).digest()[:4]


def raw_pub(k):
    from cryptography.hazmat.primitives import serialization
    return k.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def verify_note(note, log_vkey, witness_vkeys):
    text, _, sigs = note.rpartition(b"\n\n")
    text += b"\n"
    lname, _, lkey = parse_vkey(log_vkey)
    lid = key_id(lname, 1, raw_pub(lkey))
    witnesses = []
    for w in witness_vkeys:
        n, _, k = parse_vkey(w)
        witnesses.append((n, key_id(n, 4, raw_pub(k)), k))
    log_ok = False
    cosigners = {}
    for line in sigs.decode().strip("\n").split("\n"):
        assert line.startswith("\u2014 "), line
        name, b64 = line[2:].split(" ")
        raw = base64.b64decode(b64, validate=True)
        kid, sig = raw[:4], raw[4:]
        if name == lname and kid == lid:
            lkey.verify(sig, text)
            log_ok = True
        for (wn, wid, wk) in witnesses:
            if name == wn and kid == wid:
                ts = int.from_bytes(sig[:8], "big")
                msg = b"cosignature/v1\ntime %d\n" % ts + text
                wk.verify(sig[8:], msg)
                cosigners[wn] = ts
    if not log_ok:
        fail("no valid log signature")
    lines = text.decode().split("\n")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    if origin != lname:
        fail("origin %r is not the key name %r" % (origin, lname))
    return size, root, cosigners


def leaf_hash(b):
    return hashlib.sha256(b"\x00" + b).digest()


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def mth(hashes):
    """RFC 6962 Merkle Tree Hash over leaf hashes, iteratively."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    level = list(hashes)
    # Combine as RFC 6962 does: split at the largest power of two < n.
    def rec(lo, hi):
        if hi - lo == 1:
            return level[lo]
        k = 1
        while k * 2 < hi - lo:
            k *= 2
        return node(rec(lo, lo + k), rec(lo + k, hi))
    return rec(0, len(level))


def npath(n):
    s = "%03d" % (n % 1000)
    n //= 1000
    while n > 0:
        s = "x%03d/" % (n % 1000) + s
        n //= 1000
    return s


def tile_path(kind, n, w):
    return "tile/%s/%s%s" % (kind, npath(n), "" if w == 256 else ".p/%d" % w)


def read(d, p):
    with open(os.path.join(d, p), "rb") as f:
        return f.read()


def main():
    d, log_vkey, wits = sys.argv[1], sys.argv[2], sys.argv[3:]
    size, root, cosigners = verify_note(read(d, "checkpoint"), log_vkey, wits)
    leaves = []
    for n in range((size + 255) // 256):
        w = min(256, size - n * 256)
        b = read(d, tile_path("entries", n, w))
        got = []
        while b:
            ln = int.from_bytes(b[:2], "big")
            got.append(b[2:2 + ln])
            b = b[2 + ln:]
        if len(got) != w:
            fail("bundle %d holds %d entries, want %d" % (n, len(got), w))
        leaves.extend(got)
    hashes = [leaf_hash(l) for l in leaves]
    # Every hash tile at every level must hold what the level below implies.
    level_hashes = hashes
    level = 0
    while len(level_hashes) > 0:
        for n in range((len(level_hashes) + 255) // 256):
            w = min(256, len(level_hashes) - n * 256)
            want = b"".join(level_hashes[n * 256:n * 256 + w])
            if read(d, tile_path(level, n, w)) != want:
                fail("tile %s differs" % tile_path(level, n, w))
        level_hashes = [mth(level_hashes[i:i + 256]) for i in range(0, len(level_hashes) - 255, 256)]
        level += 1
    if mth(hashes) != root:
        fail("root hash differs")
    # EARLIER_CHECKPOINTS: a directory of checkpoints published before this
    # one; each must verify and be the root of a prefix of this log.
    earlier = 0
    if os.environ.get("EARLIER_CHECKPOINTS"):
        d2 = os.environ["EARLIER_CHECKPOINTS"]
        for fn in sorted(os.listdir(d2)):
            esize, eroot, _ = verify_note(read(d2, fn), log_vkey, [])
            if esize > size or mth(hashes[:esize]) != eroot:
                fail("checkpoint %s (size %d) is not a prefix of this log" % (fn, esize))
            earlier += 1
    releases = []
    for i, leaf in enumerate(leaves):
        arr = cbor2.loads(leaf)
        if cbor2.dumps(arr) != leaf:
            fail("leaf %d is not canonical CBOR" % i)
        st, pub, sig = arr
        if len(pub) != 32 or len(sig) != 64:
            fail("leaf %d: bad key or signature length" % i)
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, b"bt-exec release v1\n" + st)
        m = cbor2.loads(st)
        if cbor2.dumps(m, canonical=True) != st:
            fail("statement %d is not deterministic CBOR" % i)
        for k, t in (("name", str), ("version", str), ("platform", str), ("sha256", bytes), ("size", int), ("published", int)):
            if not isinstance(m.get(k), t):
                fail("statement %d: field %s" % (i, k))
        if len(m["sha256"]) != 32:
            fail("statement %d: sha256 length" % i)
        releases.append({"index": i, "name": m["name"], "version": m["version"], "platform": m["platform"],
                         "sha256": m["sha256"].hex(), "size": m["size"], "publisher": base64.b64encode(pub).decode()})
    print(json.dumps({"size": size, "root": base64.b64encode(root).decode(), "cosigners": cosigners,
                      "earlier": earlier,
                      "releases": releases}))


if __name__ == "__main__":
    main()
