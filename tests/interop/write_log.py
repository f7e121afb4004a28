#!/usr/bin/env python3
"""Independent writer of a C2SP tiled log of bt-exec release entries, for
interoperability tests: written from the specs alone (tlog-tiles,
tlog-checkpoint, signed-note, RFC 6962, DESIGN section 3) with
pyca/cryptography and cbor2. Shares no code with the Rust implementation.

usage: write_log.py OUTDIR COUNT [ORIGIN]
With PROOF_AT=i, also writes OUTDIR/release-i (the released file, mode 755)
and OUTDIR/release-i.tlog-proof (a C2SP tlog-proof whose extra is the leaf).
Prints one JSON object: {"log_vkey": ..., "publisher": base64 key,
"releases": [{"name","version","sha256"}...]}.
"""
import base64
import hashlib
import json
import os
import sys

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def raw_pub(priv):
    return priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name, alg, pub):
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + pub).digest()[:4]


def leaf_hash(b):
    return hashlib.sha256(b"\x00" + b).digest()


def mth(h):
    if len(h) == 1:
        return h[0]
    k = 1
    while k * 2 < len(h):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(h[:k]) + mth(h[k:])).digest()


def inclusion_path(m, h):
    """RFC 6962 section 2.1.1 PATH(m, D[n]), leaf's sibling first."""
    if len(h) <= 1:
        return []
    k = 1
    while k * 2 < len(h):
        k *= 2
    if m < k:
        return inclusion_path(m, h[:k]) + [mth(h[k:])]
    return inclusion_path(m - k, h[k:]) + [mth(h[:k])]


def read_back(d, p):
    with open(os.path.join(d, p), "rb") as f:
        return f.read()


def npath(n):
    s = "%03d" % (n % 1000)
    n //= 1000
    while n > 0:
        s = "x%03d/" % (n % 1000) + s
        n //= 1000
    return s


def tile_path(kind, n, w):
    return "tile/%s/%s%s" % (kind, npath(n), "" if w == 256 else ".p/%d" % w)


def tree_root(hashes):
    """The root of the tree of these leaf hashes (the empty tree's too)."""
    return mth(hashes) if hashes else hashlib.sha256(b"").digest()


def entry_bundle(entries):
    """An entry bundle: each entry as a big-endian uint16 length, then its bytes."""
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


def tile_files(leaves):
    """Every resource of the tiled log of `leaves` but its checkpoint, as
    (path, bytes) pairs: the entry bundles, then the hash tiles level by level,
    each full one and the rightmost partial one (tlog-tiles: a level-L tile
    holds the MTH of consecutive full 256**L-leaf subtrees; a partial tile is
    never hashed into the level above)."""
    for n in range(0, (len(leaves) + 255) // 256):
        chunk = leaves[n * 256:(n + 1) * 256]
        yield tile_path("entries", n, len(chunk)), entry_bundle(chunk)
    level, level_hashes = 0, [leaf_hash(l) for l in leaves]
    while level_hashes:
        for n in range(0, (len(level_hashes) + 255) // 256):
            chunk = level_hashes[n * 256:(n + 1) * 256]
            yield tile_path(level, n, len(chunk)), b"".join(chunk)
        level_hashes = [mth(level_hashes[i:i + 256]) for i in range(0, len(level_hashes) - 255, 256)]
        level += 1


def write(d, p, data):
    full = os.path.join(d, p)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)


def main():
    out, count = sys.argv[1], int(sys.argv[2])
    origin = sys.argv[3] if len(sys.argv) > 3 else "example.net/independent-log"
    seed = hashlib.sha256(b"independent writer " + origin.encode()).digest()
    log_key = Ed25519PrivateKey.from_private_bytes(seed)
    pub_key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed + b"publisher").digest())
    pub = raw_pub(pub_key)
    leaves, releases = [], []
    for i in range(count):
        data = b"#!/bin/sh\necho independent release %d\n" % i
        st = {"name": "example.net/tool%d" % (i % 10), "version": "2.%d" % i, "platform": "any",
              "sha256": hashlib.sha256(data).digest(), "size": len(data), "published": 1790000000 + i}
        stb = cbor2.dumps(st, canonical=True)
        sig = pub_key.sign(b"bt-exec release v1\n" + stb)
        if os.environ.get("CORRUPT_SIG_AT") == str(i):
            sig = sig[:10] + bytes([sig[10] ^ 1]) + sig[11:]
        leaves.append(cbor2.dumps([stb, pub, sig]))
        releases.append({"name": st["name"], "version": st["version"], "sha256": st["sha256"].hex()})
    hashes = [leaf_hash(l) for l in leaves]
    for path, data in tile_files(leaves):
        write(out, path, data)
    root = tree_root(hashes)
    text = ("%s\n%d\n%s\n" % (origin, count, base64.b64encode(root).decode())).encode()
    lpub = raw_pub(log_key)
    kid = key_id(origin, 1, lpub)
    sig = base64.b64encode(kid + log_key.sign(text)).decode()
    write(out, "checkpoint", text + ("\n\u2014 %s %s\n" % (origin, sig)).encode())
    vkey = "%s+%s+%s" % (origin, kid.hex(), base64.b64encode(b"\x01" + lpub).decode())
    if os.environ.get("PROOF_AT"):
        i = int(os.environ["PROOF_AT"])
        with open(os.path.join(out, "release-%d" % i), "wb") as f:
            f.write(b"#!/bin/sh\necho independent release %d\n" % i)
        os.chmod(os.path.join(out, "release-%d" % i), 0o755)
        proof = "c2sp.org/tlog-proof@v1\nextra %s\nindex %d\n" % (base64.b64encode(leaves[i]).decode(), i)
        proof += "".join(base64.b64encode(h).decode() + "\n" for h in inclusion_path(i, hashes))
        with open(os.path.join(out, "release-%d.tlog-proof" % i), "wb") as f:
            f.write(proof.encode() + b"\n" + read_back(out, "checkpoint"))
    print(json.dumps({"log_vkey": vkey, "publisher": base64.b64encode(pub).decode(), "releases": releases}))


if __name__ == "__main__":
    main()
