"""The logs of sigstore_make.py's test Sigstore instance: appending an entry,
the Rekor v2 log as a C2SP tiled log (tlog-tiles), its checkpoints, and
asking C2SP tlog-witness witnesses to cosign them. Written from the specs
(RFC 6962 / RFC 9162, C2SP signed-note, tlog-checkpoint, tlog-tiles,
tlog-witness) with the standard library only; shares no code with the Rust
implementation.

A log directory (DIR/log for Rekor v2, DIR/log-v1 for Rekor v1) holds
`leaves` (one base64 entry body a line, the Merkle leaves in order), `lock`
(serialises writers: flock) and `checkpoint` (the signed tree head the log
serves). The Rekor v2 one also holds every tlog-tiles resource,
`tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, so that a static file
server serves it as-is. Every file a reader may fetch is written to a
temporary name and renamed, so a concurrent reader never sees half a file.
What the witnesses last cosigned, {URL: size}, is kept in
DIR/log-witness-state.json, outside the served directory.
"""
import base64
import contextlib
import fcntl
import json
import os
import time
import urllib.error
import urllib.request

from write_log import inclusion_path, leaf_hash, mth, tile_files, tree_root

WITNESS_STATE = "log-witness-state.json"


def b64(data):
    return base64.b64encode(data).decode()


def canonical_json(obj):
    """RFC 8785 for what the instance writes (ASCII strings and integers only)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write_atomic(path, data):
    """Writes `data` to `path` through a temporary file in the same directory
    and a rename: a reader sees the old file or the new one, never a part."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(log_dir):
    """Holds the log's exclusive lock (DIR/log/lock) for the block."""
    os.makedirs(log_dir, exist_ok=True)
    with open(f"{log_dir}/lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def read_leaves(log_dir):
    if not os.path.exists(f"{log_dir}/leaves"):
        return []
    with open(f"{log_dir}/leaves") as f:
        return [base64.b64decode(line) for line in f if line.strip()]


# ---------------------------------------------------------------- notes

def c2sp_note(origin, size, root, key_name, key_hint, sign):
    """A signed note whose text is a C2SP checkpoint (Rekor v1 uses the same shape)."""
    text = f"{origin}\n{size}\n{b64(root)}\n"
    return text + f"\n\u2014 {key_name} {b64(key_hint + sign(text.encode()))}\n"


def split_note(note):
    """(text, signature lines) of a signed note; the text ends in a newline."""
    text, sep, sigs = note.partition("\n\n")
    if not sep:
        raise SystemExit("rekor_log: not a signed note:\n" + note)
    return text + "\n", [line for line in sigs.split("\n") if line]


def checkpoint_size_root(note):
    """The tree size and root hash of a checkpoint note."""
    lines = split_note(note)[0].split("\n")
    return int(lines[1]), base64.b64decode(lines[2])


def signer_of(line):
    """A signature line's (key name, key ID): what tells two signers apart."""
    name, sig = line[2:].split(" ")
    return name, base64.b64decode(sig)[:4]


def add_signatures(note, lines):
    """The note with `lines` added; a line replaces any earlier one by the
    same key (a witness's newer cosignature of the same tree)."""
    text, old = split_note(note)
    new_signers = {signer_of(line) for line in lines}
    kept = [line for line in old if signer_of(line) not in new_signers]
    return text + "\n" + "".join(line + "\n" for line in kept + lines)


# ---------------------------------------------------------------- proofs and tiles

def consistency_path(m, hashes):
    """RFC 9162 section 2.1.4.1 PROOF(m, D[n]) over the leaf hashes D[n]:
    the Merkle consistency proof from the tree of the first m leaves (empty
    when m is 0 or n, which need none)."""
    def subproof(m, h, complete):
        if m == len(h):
            return [] if complete else [mth(h)]
        k = 1
        while k * 2 < len(h):
            k *= 2  # the largest power of two smaller than len(h)
        if m <= k:
            return subproof(m, h[:k], complete) + [mth(h[k:])]
        return subproof(m - k, h[k:], False) + [mth(h[:k])]
    if m == 0 or m == len(hashes):
        return []
    return subproof(m, hashes, True)


def write_tiles(log_dir, leaves):
    """Writes the entry bundles and hash tiles of the tree of `leaves` that
    are not there yet. A tile's bytes are fixed by its path (level, index,
    width), so one already written is the same; older partial tiles stay,
    for readers of older checkpoints."""
    for path, data in tile_files(leaves):
        full = os.path.join(log_dir, path)
        if not os.path.exists(full):
            write_atomic(full, data)


# ---------------------------------------------------------------- witnesses

def load_witness_state(d):
    path = f"{d}/{WITNESS_STATE}"
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def post_add_checkpoint(url, old_size, proof, note):
    """One C2SP tlog-witness add-checkpoint request: (HTTP status, body).
    A witness that rate-limits the log (429) is asked again after the
    Retry-After it gives, for up to about a minute."""
    body = f"old {old_size}\n" + "".join(b64(h) + "\n" for h in proof) + "\n" + note
    waited = 0
    while True:
        req = urllib.request.Request(url + "/add-checkpoint", data=body.encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            retry_after = e.headers.get("Retry-After", "")
            if e.code != 429 or waited >= 60:
                return e.code, e.read().decode(errors="replace")
            delay = min(int(retry_after) if retry_after.isdigit() else 1, 10)
            time.sleep(delay)
            waited += delay
        except OSError as e:
            raise SystemExit(f"rekor_log: witness {url}: {e}")


def ask_witness(url, known_size, note, hashes):
    """Asks the witness at `url` to cosign `note`, a checkpoint of the tree of
    leaf hashes `hashes`, proving consistency from `known_size` (what it was
    last seen to cosign; 0 if never). On 409 the witness answers with the
    size it has: one retry from there. Returns (cosignature lines, size now
    cosigned)."""
    size = len(hashes)
    for attempt in (1, 2):
        if known_size > size:
            raise SystemExit(f"rekor_log: witness {url} has cosigned size {known_size}, "
                             f"beyond this checkpoint's {size} (a tree signed --unpublished?)")
        status, body = post_add_checkpoint(url, known_size, consistency_path(known_size, hashes), note)
        if status == 409 and attempt == 1 and body.strip().isdigit():
            known_size = int(body.strip())
            continue
        if status != 200:
            raise SystemExit(f"rekor_log: witness {url} answered {status} "
                             f"(old size {known_size}, size {size}): {body.strip()}")
        lines = [line for line in body.split("\n") if line]
        if not lines or not all(line.startswith("\u2014 ") and len(line.split(" ")) == 3
                                for line in lines):
            raise SystemExit(f"rekor_log: witness {url} answered 200 without "
                             f"signature lines: {body!r}")
        return lines, size
    raise SystemExit(f"rekor_log: witness {url} answered 409 twice")


def cosign(d, note, hashes, witnesses):
    """`note` (a checkpoint of the tree of `hashes`) with a cosignature from
    each witness URL added; records their sizes in DIR/log-witness-state.json.
    Call with the log's lock held: a witness must see the log's trees in order."""
    if not witnesses:
        return note
    state = load_witness_state(d)
    for url in (w.rstrip("/") for w in witnesses):
        lines, state[url] = ask_witness(url, state.get(url, 0), note, hashes)
        note = add_signatures(note, lines)
        # Saved at once: a later witness's refusal does not lose this one's size.
        write_atomic(f"{d}/{WITNESS_STATE}", json.dumps(state, indent=2, sort_keys=True) + "\n")
    return note


# ---------------------------------------------------------------- appending

def append_entry(log_dir, body, checkpoint, seal=None, publish=True):
    """Appends `body` to the RFC 6962 log kept in log_dir, under its lock.
    checkpoint(size, root) signs the new tree head; seal(leaves, hashes, note),
    when given, finishes it (tiles, witnesses) and returns the note to use;
    with publish=False the log's served checkpoint is left as it was.
    Returns (index, size, root, inclusion path, checkpoint note). A seal that
    fails leaves the entry in the tree, to be covered by the next checkpoint."""
    with locked(log_dir):
        leaves = read_leaves(log_dir) + [body]
        with open(f"{log_dir}/leaves", "a") as f:
            f.write(b64(body) + "\n")
        hashes = [leaf_hash(leaf) for leaf in leaves]
        index, root = len(leaves) - 1, mth(hashes)
        note = checkpoint(len(leaves), root)
        if seal is not None:
            note = seal(leaves, hashes, note)
        if publish:
            write_atomic(f"{log_dir}/checkpoint", note)
    return index, len(leaves), root, inclusion_path(index, hashes), note


def tlog_entry(index, log_id, kind_version, body, size, root, path, note):
    """A bundle's transparencyLogEntry with its inclusion proof."""
    return {"logIndex": str(index), "logId": {"keyId": b64(log_id)},
            "kindVersion": {"kind": kind_version[0], "version": kind_version[1]},
            "inclusionProof": {"logIndex": str(index), "rootHash": b64(root), "treeSize": str(size),
                               "hashes": [b64(h) for h in path], "checkpoint": {"envelope": note}},
            "canonicalizedBody": b64(body)}


# ---------------------------------------------------------------- Rekor v1

def v1_append(d, inst, sign, body, kind, integrated_time):
    """Logs `body` (a hashedrekord or dsse 0.0.1 body) in the Rekor v1 log
    (checkpoints and the SET signed by `sign`, the log's ECDSA key); returns
    the bundle's tlogEntry, with integratedTime and its inclusionPromise."""
    v1, log_id = inst["rekor_v1"], base64.b64decode(inst["rekor_v1"]["log_id"])
    index, size, root, path, note = append_entry(
        f"{d}/log-v1", body, lambda n, r: c2sp_note(v1["origin"], n, r, v1["name"], log_id[:4], sign))
    entry = tlog_entry(index, log_id, (kind, "0.0.1"), body, size, root, path, note)
    promise = canonical_json({"body": b64(body), "integratedTime": integrated_time,
                              "logID": log_id.hex(), "logIndex": index})
    entry["integratedTime"] = str(integrated_time)
    entry["inclusionPromise"] = {"signedEntryTimestamp": b64(sign(promise))}
    return entry


# ---------------------------------------------------------------- Rekor v2

def v2_signer(inst, key):
    """checkpoint(size, root) for the instance's Rekor v2 log (Ed25519 `key`)."""
    origin, log_id = inst["rekor_v2"]["origin"], base64.b64decode(inst["rekor_v2"]["log_id"])
    return lambda size, root: c2sp_note(origin, size, root, origin, log_id[:4], key.sign)


def v2_append(d, inst, key, body, witnesses=(), unpublished=False):
    """Logs `body` (a hashedrekord or dsse 0.0.2 canonicalized body) in the
    Rekor v2 log, writes its tiles, has each witness cosign the new
    checkpoint and (unless unpublished) serves it; returns the bundle's
    tlogEntry, whose checkpoint is the cosigned note."""
    def seal(leaves, hashes, note):
        write_tiles(f"{d}/log", leaves)
        return cosign(d, note, hashes, witnesses)
    index, size, root, path, note = append_entry(
        f"{d}/log", body, v2_signer(inst, key), seal=seal, publish=not unpublished)
    kind = json.loads(body)["kind"]
    log_id = base64.b64decode(inst["rekor_v2"]["log_id"])
    entry = tlog_entry(index, log_id, (kind, "0.0.2"), body, size, root, path, note)
    entry["integratedTime"] = "0"
    return entry


def v2_checkpoint(d, inst, key):
    """A fresh log-signed checkpoint of the whole Rekor v2 tree (no cosignatures)."""
    with locked(f"{d}/log"):
        hashes = [leaf_hash(leaf) for leaf in read_leaves(f"{d}/log")]
    return v2_signer(inst, key)(len(hashes), tree_root(hashes))


def v2_cosign_served(d, witnesses):
    """Has each witness cosign the checkpoint DIR/log serves, and serves it
    with their cosignatures added. Returns the new note."""
    log_dir = f"{d}/log"
    with locked(log_dir):
        with open(f"{log_dir}/checkpoint") as f:
            note = f.read()
        size, root = checkpoint_size_root(note)
        hashes = [leaf_hash(leaf) for leaf in read_leaves(log_dir)][:size]
        if len(hashes) != size or tree_root(hashes) != root:
            raise SystemExit(f"rekor_log: {log_dir}/checkpoint is not a tree of {log_dir}/leaves")
        note = cosign(d, note, hashes, witnesses)
        write_atomic(f"{log_dir}/checkpoint", note)
    return note
