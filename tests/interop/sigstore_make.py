#!/usr/bin/env python3
"""A complete, offline, throw-away Sigstore instance for bt-exec's
interoperability tests (test-only: every key it makes is a test key kept in
plain files). Written from the specs (Sigstore bundle/trusted-root formats,
RFC 6962, RFC 3161/5652, C2SP signed-note/checkpoint/tlog-tiles/tlog-witness,
DSSE, in-toto) with pyca/cryptography only; shares no code with the Rust
implementation. The logs are kept by rekor_log.py.

usage:
  sigstore_make.py init DIR [--not-before ISO] [--not-after ISO]
                   [--origin HOST] [--v1-origin HOST] [--no-rekor-v1]
  sigstore_make.py keygen KEY.pem [--ed25519]  (also writes KEY.pub)
  sigstore_make.py sign DIR --artifact FILE --out BUNDLE
                   (--identity SAN --issuer URL | --key KEY.pem)
                   [--dsse] [--rekor v2|v1] [--at ISO] [--tsa | --no-tsa]
                   [--witness URL ...] [--unpublished]
  sigstore_make.py cosign DIR --witness URL [--witness URL ...]
  sigstore_make.py checkpoint DIR --out FILE

init writes DIR/trusted_root.json (a Fulcio-like CA, a CT log, a Rekor v2
log (Ed25519, C2SP checkpoints), optionally a Rekor v1 log (ECDSA) and an
RFC 3161 TSA with its own root), the private keys as DIR/*.key.pem, the
certificates as DIR/*.crt.pem, DIR/instance.json, DIR/rekor_v2.vkey (the
Rekor v2 log's signed-note verifier key; its name is the origin, default
rekor.test.invalid) and DIR/log/checkpoint (the empty tree).
sign writes a Sigstore bundle v0.3 for FILE: keyless (a 10-minute Fulcio-like
leaf with an embedded SCT) or managed-key; a messageSignature or (--dsse) a
DSSE in-toto statement; logged in the Rekor v2 log (hashedrekord 0.0.2 and an
RFC 3161 timestamp; --no-tsa leaves the timestamp out) or in the Rekor v1 log
(hashedrekord/dsse 0.0.1 with integratedTime and SET; --tsa adds a timestamp).
Every sign appends to the same log: DIR/log/ (Rekor v2) or DIR/log-v1/, each
with `leaves` (one base64 entry body a line, the Merkle leaves in order) and
`checkpoint` (the latest signed tree head). --at sets the signing time
(certificate validity, TSA time and integratedTime follow it).

DIR/log/ is also a C2SP tiled log (rekor_log.py) that `python3 -m http.server
-d DIR/log` serves as-is, its tiles and checkpoint updated by each sign.
sign --witness URL (repeatable; a C2SP tlog-witness submission prefix, e.g.
`bt-log witness serve --log "$(cat DIR/rekor_v2.vkey)"`) has each witness
cosign the new checkpoint before the bundle is written: the cosigned note is
the bundle's checkpoint and the one DIR/log serves (a witness's refusal fails
the sign; the entry stays in the tree). sign --unpublished gives the bundle a
checkpoint covering the entry but leaves DIR/log/checkpoint as it was: a tree
the log never serves. cosign has the witnesses cosign the served checkpoint
and serves it with their cosignatures. checkpoint writes a fresh log-signed
checkpoint of the whole Rekor v2 tree (no cosignatures) to FILE only.
"""
import argparse
import base64
import datetime
import hashlib
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rekor_log import (canonical_json, v1_append, v2_append, v2_checkpoint, v2_cosign_served,
                       write_atomic)
from write_log import key_id as note_key_id

UTC = datetime.timezone.utc
TRUSTED_ROOT_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
INTOTO_TYPE = "application/vnd.in-toto+json"
OID_FULCIO_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OID_FULCIO_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
OID_SCT_LIST = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
DEFAULT_NOT_BEFORE = "2020-01-01T00:00:00Z"
CERT_NOT_AFTER = "2099-12-31T23:59:59Z"
V1_TREE_ID = 1234567890123456789


# ---------------------------------------------------------------- basics

def b64(data):
    return base64.b64encode(data).decode()


def sha256(data):
    return hashlib.sha256(data).digest()


def parse_time(text):
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)


def iso(t):
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def spki_der(key):
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def pem_of(obj):
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def save_key(path, key):
    write_file(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


# ---------------------------------------------------------------- DER (RFC 3161 token)

def der(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def der_seq(*items):
    return der(0x30, b"".join(items))


def der_set(*items):
    return der(0x31, b"".join(sorted(items)))  # DER: SET OF sorted by encoding


def der_int(n):
    return der(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True))


def der_oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return der(0x06, bytes(out))


def der_octets(data):
    return der(0x04, data)


def der_gentime(t):
    return der(0x18, t.strftime("%Y%m%d%H%M%SZ").encode())


# ---------------------------------------------------------------- certificates

def name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bt-exec test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def self_signed_ca(key, common_name, not_before, not_after):
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (x509.CertificateBuilder()
            .subject_name(name(common_name)).issuer_name(name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(key_usage(cert_sign=True), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA384() if isinstance(key.curve, ec.SECP384R1) else hashes.SHA256()))


def key_usage(cert_sign=False):
    return x509.KeyUsage(digital_signature=not cert_sign, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=cert_sign, crl_sign=cert_sign,
                         encipher_only=False, decipher_only=False)


def tsa_leaf(key, root_key, root_cert, not_before, not_after):
    """TSA signing certificate: critical EKU timeStamping only (RFC 3161 section 2.3)."""
    return (x509.CertificateBuilder()
            .subject_name(name("bt-exec test tsa")).issuer_name(root_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage(), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                           critical=False)
            .sign(root_key, hashes.SHA256()))


def san_of(identity):
    if "://" in identity:
        return x509.UniformResourceIdentifier(identity)
    return x509.RFC822Name(identity)


def fulcio_leaf(ca_key, ca_cert, public_key, identity, issuer, not_before, serial, sct_ext):
    """A Fulcio-shaped signing certificate; sct_ext is the SCT list extension value
    (the same position every time, so the precertificate TBS stays identical)."""
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([])).issuer_name(ca_cert.subject)
               .public_key(public_key).serial_number(serial)
               .not_valid_before(not_before)
               .not_valid_after(not_before + datetime.timedelta(minutes=10))
               .add_extension(key_usage(), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False)
               .add_extension(x509.SubjectAlternativeName([san_of(identity)]), critical=True)
               .add_extension(x509.UnrecognizedExtension(OID_FULCIO_ISSUER_V1, issuer.encode()),
                              critical=False)
               .add_extension(x509.UnrecognizedExtension(OID_FULCIO_ISSUER_V2,
                                                         der(0x0C, issuer.encode())), critical=False)
               .add_extension(x509.UnrecognizedExtension(OID_SCT_LIST, sct_ext), critical=False))
    return builder.sign(ca_key, hashes.SHA384() if isinstance(ca_key.curve, ec.SECP384R1)
                        else hashes.SHA256())


# ---------------------------------------------------------------- SCT (RFC 6962)

def sct_extension_value(log_id, timestamp_ms, signature):
    """extnValue contents: OCTET STRING wrapping the TLS SignedCertificateTimestampList."""
    sct = (b"\x00" + log_id + timestamp_ms.to_bytes(8, "big") + b"\x00\x00"
           + b"\x04\x03" + len(signature).to_bytes(2, "big") + signature)
    entries = len(sct).to_bytes(2, "big") + sct
    return der_octets(len(entries).to_bytes(2, "big") + entries)


def precert_signed_data(timestamp_ms, issuer_spki, tbs):
    """RFC 6962 section 3.2 digitally-signed struct for a precert_entry."""
    return (b"\x00\x00" + timestamp_ms.to_bytes(8, "big") + b"\x00\x01" + sha256(issuer_spki)
            + len(tbs).to_bytes(3, "big") + tbs + b"\x00\x00")


def issue_leaf(d, public_key, identity, issuer, at):
    """The keyless signing certificate for `at`, with an embedded SCT."""
    ca_key, ca_cert = load_key(f"{d}/fulcio-root.key.pem"), load_cert(f"{d}/fulcio-root.crt.pem")
    ct_key = load_key(f"{d}/ctlog.key.pem")
    not_before = at - datetime.timedelta(minutes=1)
    serial = x509.random_serial_number()
    ts_ms = int(not_before.timestamp()) * 1000
    log_id = sha256(spki_der(ct_key.public_key()))
    placeholder = sct_extension_value(log_id, ts_ms, b"\x00" * 72)
    pre = fulcio_leaf(ca_key, ca_cert, public_key, identity, issuer, not_before, serial, placeholder)
    signed = precert_signed_data(ts_ms, spki_der(ca_key.public_key()), pre.tbs_precertificate_bytes)
    sig = ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
    real = sct_extension_value(log_id, ts_ms, sig)
    leaf = fulcio_leaf(ca_key, ca_cert, public_key, identity, issuer, not_before, serial, real)
    assert leaf.tbs_precertificate_bytes == pre.tbs_precertificate_bytes
    return leaf


# ---------------------------------------------------------------- RFC 3161 timestamp

OID_SHA256 = "2.16.840.1.101.3.4.2.1"
OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"


def tst_info(message, gen_time, serial):
    """TSTInfo (RFC 3161 section 2.4.2) over SHA-256(message)."""
    imprint = der_seq(der_seq(der_oid(OID_SHA256)), der_octets(sha256(message)))
    return der_seq(der_int(1), der_oid("1.3.6.1.4.1.57264.2"), imprint, der_int(serial),
                   der_gentime(gen_time))  # ordering: DEFAULT FALSE, so absent in DER


def timestamp_response(d, message, gen_time):
    """A granted TimeStampResp whose token is CMS SignedData by the test TSA."""
    key, cert = load_key(f"{d}/tsa.key.pem"), load_cert(f"{d}/tsa.crt.pem")
    content = tst_info(message, gen_time, x509.random_serial_number())
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    ess_cert_id_v2 = der_seq(der_seq(der_seq(der_octets(sha256(cert_der)))))
    attrs = [
        der_seq(der_oid("1.2.840.113549.1.9.3"), der_set(der_oid(OID_TST_INFO))),
        der_seq(der_oid("1.2.840.113549.1.9.5"), der_set(der_gentime(gen_time))),
        der_seq(der_oid("1.2.840.113549.1.9.4"), der_set(der_octets(sha256(content)))),
        der_seq(der_oid("1.2.840.113549.1.9.16.2.47"), der_set(ess_cert_id_v2)),
    ]
    signed_attrs = der_set(*attrs)  # signed as a SET (tag 0x31) ...
    signature = key.sign(signed_attrs, ec.ECDSA(hashes.SHA256()))
    sid = der_seq(cert.issuer.public_bytes(), der_int(cert.serial_number))
    signer_info = der_seq(der_int(1), sid, der_seq(der_oid(OID_SHA256)),
                          der(0xA0, signed_attrs[header_len(signed_attrs):]),  # ... kept as [0]
                          der_seq(der_oid("1.2.840.10045.4.3.2")), der_octets(signature))
    signed_data = der_seq(der_int(3), der_set(der_seq(der_oid(OID_SHA256))),
                          der_seq(der_oid(OID_TST_INFO), der(0xA0, der_octets(content))),
                          der(0xA0, cert_der), der_set(signer_info))
    token = der_seq(der_oid("1.2.840.113549.1.7.2"), der(0xA0, signed_data))
    return der_seq(der_seq(der_int(0)), token)


def header_len(encoding):
    """Length of a DER tag+length header."""
    return 2 if encoding[1] < 0x80 else 2 + (encoding[1] & 0x7F)


# ---------------------------------------------------------------- init

def valid_for(not_before, not_after):
    window = {"start": iso(not_before)}
    if not_after is not None:
        window["end"] = iso(not_after)
    return window


def cert_chain(*certs):
    return {"certificates": [{"rawBytes": b64(c.public_bytes(serialization.Encoding.DER))}
                             for c in certs]}


def log_instance(base_url, key, key_details, log_id, window):
    return {"baseUrl": base_url, "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": b64(spki_der(key.public_key())), "keyDetails": key_details,
                          "validFor": window},
            "logId": {"keyId": b64(log_id)}}


def authority(common_name, uri, chain, window):
    return {"subject": {"organization": "bt-exec test", "commonName": common_name},
            "uri": uri, "certChain": chain, "validFor": window}


def rekor_v2_ids(origin, key):
    """Rekor v2: logId = the full C2SP signed-note key hash SHA-256(origin || 0x0A || 0x01 || key);
    its first 4 bytes are the checkpoint's key ID (as in Sigstore's own trust roots)."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    full = sha256(origin.encode() + b"\n\x01" + raw)
    assert full[:4] == note_key_id(origin, 1, raw)
    return full, "%s+%s+%s" % (origin, full[:4].hex(), b64(b"\x01" + raw))


def make_keys(d, args):
    """Creates and saves every key and certificate of the instance."""
    not_before = parse_time(args.not_before)
    cert_end = parse_time(args.not_after) if args.not_after else parse_time(CERT_NOT_AFTER)
    keys = {"fulcio-root": ec.generate_private_key(ec.SECP384R1()),
            "ctlog": ec.generate_private_key(ec.SECP256R1()),
            "rekor-v2": Ed25519PrivateKey.generate(),
            "tsa-root": ec.generate_private_key(ec.SECP384R1()),
            "tsa": ec.generate_private_key(ec.SECP256R1())}
    if not args.no_rekor_v1:
        keys["rekor-v1"] = ec.generate_private_key(ec.SECP256R1())
    for label, key in keys.items():
        save_key(f"{d}/{label}.key.pem", key)
    certs = {"fulcio-root": self_signed_ca(keys["fulcio-root"], "bt-exec test fulcio root",
                                           not_before, cert_end),
             "tsa-root": self_signed_ca(keys["tsa-root"], "bt-exec test tsa root", not_before, cert_end)}
    certs["tsa"] = tsa_leaf(keys["tsa"], keys["tsa-root"], certs["tsa-root"], not_before, cert_end)
    for label, cert in certs.items():
        write_file(f"{d}/{label}.crt.pem", pem_of(cert))
    return keys, certs


def cmd_init(args):
    d = args.dir
    os.makedirs(d, exist_ok=True)
    keys, certs = make_keys(d, args)
    window = valid_for(parse_time(args.not_before),
                       parse_time(args.not_after) if args.not_after else None)
    v2_id, v2_vkey = rekor_v2_ids(args.origin, keys["rekor-v2"])
    tlogs = [log_instance("https://" + args.origin, keys["rekor-v2"], "PKIX_ED25519", v2_id, window)]
    instance = {"rekor_v2": {"origin": args.origin, "log_id": b64(v2_id), "vkey": v2_vkey},
                "rekor_v1": None}
    if "rekor-v1" in keys:
        v1_id = sha256(spki_der(keys["rekor-v1"].public_key()))
        tlogs.append(log_instance("https://" + args.v1_origin, keys["rekor-v1"],
                                  "PKIX_ECDSA_P256_SHA_256", v1_id, window))
        instance["rekor_v1"] = {"name": args.v1_origin, "origin": f"{args.v1_origin} - {V1_TREE_ID}",
                                "log_id": b64(v1_id)}
    ct_id = sha256(spki_der(keys["ctlog"].public_key()))
    root = {"mediaType": TRUSTED_ROOT_TYPE, "tlogs": tlogs,
            "certificateAuthorities": [authority("bt-exec test fulcio root", "https://fulcio.test.invalid",
                                                 cert_chain(certs["fulcio-root"]), window)],
            "ctlogs": [log_instance("https://ctfe.test.invalid", keys["ctlog"],
                                    "PKIX_ECDSA_P256_SHA_256", ct_id, window)],
            "timestampAuthorities": [authority("bt-exec test tsa", "https://tsa.test.invalid",
                                               cert_chain(certs["tsa"], certs["tsa-root"]), window)]}
    write_file(f"{d}/trusted_root.json", json.dumps(root, indent=2) + "\n")
    instance["ct_log_id"] = b64(ct_id)
    write_file(f"{d}/instance.json", json.dumps(instance, indent=2) + "\n")
    write_file(f"{d}/rekor_v2.vkey", v2_vkey + "\n")
    # The Rekor v2 log serves the empty tree until the first entry.
    write_atomic(f"{d}/log/checkpoint", v2_checkpoint(d, instance, keys["rekor-v2"]))
    print(json.dumps({"trusted_root": f"{d}/trusted_root.json", **instance}))


def cmd_keygen(args):
    key = Ed25519PrivateKey.generate() if args.ed25519 else ec.generate_private_key(ec.SECP256R1())
    save_key(args.key, key)
    pub = (args.key[:-4] if args.key.endswith(".pem") else args.key) + ".pub"
    write_file(pub, pem_of(key.public_key()))
    print(json.dumps({"private": args.key, "public": pub}))


# ---------------------------------------------------------------- entry bodies

def hashedrekord_v002(digest, signature, cert, public_key):
    if cert is not None:
        verifier = {"x509Certificate": {"rawBytes": b64(cert.public_bytes(serialization.Encoding.DER))}}
    else:
        verifier = {"publicKey": {"rawBytes": b64(spki_der(public_key))}}
    ed25519 = cert is None and isinstance(public_key, Ed25519PublicKey)
    verifier["keyDetails"] = "PKIX_ED25519" if ed25519 else "PKIX_ECDSA_P256_SHA_256"
    return canonical_json({"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
        "data": {"algorithm": "SHA2_256", "digest": b64(digest)},
        "signature": {"content": b64(signature), "verifier": verifier}}}})


def hashedrekord_v001(digest, signature, verifier_pem):
    return canonical_json({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
        "signature": {"content": b64(signature), "publicKey": {"content": b64(verifier_pem)}}}})


def dsse_v001(envelope, signature, verifier_pem):
    payload = base64.b64decode(envelope["payload"])
    return canonical_json({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "envelopeHash": {"algorithm": "sha256", "value": sha256(canonical_json(envelope)).hex()},
        "payloadHash": {"algorithm": "sha256", "value": sha256(payload).hex()},
        "signatures": [{"signature": b64(signature), "verifier": b64(verifier_pem)}]}})


# ---------------------------------------------------------------- sign

def pae(payload_type, payload):
    """DSSE v1 pre-authentication encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sign_content(key, artifact, artifact_name, dsse):
    """Returns (bundle field, its value, signature bytes, digest the Rekor v2 entry logs)."""
    def sign(data):
        if isinstance(key, Ed25519PrivateKey):
            return key.sign(data)  # pure Ed25519: over the bytes themselves
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if not dsse:
        signature = sign(artifact)
        value = {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(sha256(artifact))},
                 "signature": b64(signature)}
        return "messageSignature", value, signature, sha256(artifact)
    statement = canonical_json({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": artifact_name, "digest": {"sha256": sha256(artifact).hex()}}],
        "predicateType": "https://bt-exec.test/predicate/v1", "predicate": {}})
    signed = pae(INTOTO_TYPE, statement)
    signature = sign(signed)
    envelope = {"payload": b64(statement), "payloadType": INTOTO_TYPE,
                "signatures": [{"sig": b64(signature)}]}
    return "dsseEnvelope", envelope, signature, sha256(signed)


def signing_material(d, args, at):
    """(private key, certificate or None, bundle verificationMaterial start)."""
    if args.key:
        key = load_key(args.key)
        p256 = isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
        if not p256 and not isinstance(key, Ed25519PrivateKey):
            sys.exit("sigstore_make: --key must be an ECDSA P-256 or Ed25519 private key")
        return key, None, {"publicKey": {"hint": b64(sha256(spki_der(key.public_key())))}}
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_leaf(d, key.public_key(), args.identity, args.issuer, at)
    return key, cert, {"certificate": {"rawBytes": b64(cert.public_bytes(serialization.Encoding.DER))}}


def cmd_sign(args):
    d = args.dir
    with open(f"{d}/instance.json") as f:
        inst = json.load(f)
    at = parse_time(args.at) if args.at else datetime.datetime.now(UTC).replace(microsecond=0)
    with open(args.artifact, "rb") as f:
        artifact = f.read()
    key, cert, material = signing_material(d, args, at)
    field, content, signature, logged_digest = sign_content(
        key, artifact, os.path.basename(args.artifact), args.dsse)
    verifier_pem = pem_of(cert if cert is not None else key.public_key())
    if args.rekor == "v2":
        body = hashedrekord_v002(logged_digest, signature, cert, key.public_key())
        entry = v2_append(d, inst, load_key(f"{d}/rekor-v2.key.pem"), body,
                          args.witness, args.unpublished)
    else:
        if inst["rekor_v1"] is None:
            sys.exit("sigstore_make: this instance has no Rekor v1 log (init --no-rekor-v1)")
        v1_key = load_key(f"{d}/rekor-v1.key.pem")
        kind, body = (("dsse", dsse_v001(content, signature, verifier_pem)) if args.dsse else
                      ("hashedrekord", hashedrekord_v001(sha256(artifact), signature, verifier_pem)))
        entry = v1_append(d, inst, lambda data: v1_key.sign(data, ec.ECDSA(hashes.SHA256())),
                          body, kind, int(at.timestamp()))
    material["tlogEntries"] = [entry]
    if args.tsa if args.tsa is not None else args.rekor == "v2":
        token = timestamp_response(d, signature, at)
        material["timestampVerificationData"] = {"rfc3161Timestamps": [{"signedTimestamp": b64(token)}]}
    bundle = {"mediaType": BUNDLE_TYPE, "verificationMaterial": material, field: content}
    write_file(args.out, json.dumps(bundle, indent=2) + "\n")
    print(json.dumps({"bundle": args.out, "log_index": int(entry["logIndex"]),
                      "tree_size": int(entry["inclusionProof"]["treeSize"]), "time": iso(at)}))


def cmd_cosign(args):
    """Has the witnesses cosign the checkpoint DIR/log serves, and serves the result."""
    note = v2_cosign_served(args.dir, args.witness)
    print(json.dumps({"checkpoint": f"{args.dir}/log/checkpoint", "envelope": note}))


def cmd_checkpoint(args):
    """A fresh log-signed checkpoint of the whole Rekor v2 tree, to FILE only."""
    with open(f"{args.dir}/instance.json") as f:
        inst = json.load(f)
    note = v2_checkpoint(args.dir, inst, load_key(f"{args.dir}/rekor-v2.key.pem"))
    write_file(args.out, note)
    print(json.dumps({"checkpoint": args.out, "envelope": note}))


# ---------------------------------------------------------------- command line

def parse_args(argv):
    p = argparse.ArgumentParser(description="Test-only Sigstore instance (see the module docstring).")
    sub = p.add_subparsers(dest="cmd", required=True)
    init = sub.add_parser("init")
    init.add_argument("dir")
    init.add_argument("--not-before", default=DEFAULT_NOT_BEFORE)
    init.add_argument("--not-after")
    init.add_argument("--origin", default="rekor.test.invalid", help="Rekor v2 log origin (host)")
    init.add_argument("--v1-origin", default="rekor-v1.test.invalid", help="Rekor v1 log host")
    init.add_argument("--no-rekor-v1", action="store_true")
    keygen = sub.add_parser("keygen")
    keygen.add_argument("key")
    keygen.add_argument("--ed25519", action="store_true",
                        help="an Ed25519 key (a message signature then signs the bytes themselves)")
    sign = sub.add_parser("sign")
    sign.add_argument("dir")
    sign.add_argument("--artifact", required=True)
    sign.add_argument("--out", required=True)
    sign.add_argument("--identity")
    sign.add_argument("--issuer")
    sign.add_argument("--key")
    sign.add_argument("--dsse", action="store_true")
    sign.add_argument("--rekor", choices=["v2", "v1"], default="v2")
    sign.add_argument("--at")
    sign.add_argument("--tsa", action="store_true", default=None)
    sign.add_argument("--no-tsa", dest="tsa", action="store_false")
    sign.add_argument("--witness", action="append", default=[], metavar="URL",
                      help="a tlog-witness submission prefix to cosign the new checkpoint (Rekor v2)")
    sign.add_argument("--unpublished", action="store_true",
                      help="leave DIR/log/checkpoint as it was (a tree the log never serves)")
    cosign = sub.add_parser("cosign")
    cosign.add_argument("dir")
    cosign.add_argument("--witness", action="append", required=True, metavar="URL")
    checkpoint = sub.add_parser("checkpoint")
    checkpoint.add_argument("dir")
    checkpoint.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.cmd == "sign" and (args.key is None) == (args.identity is None or args.issuer is None):
        p.error("sign needs either --identity and --issuer, or --key")
    if args.cmd == "sign" and args.rekor == "v1" and (args.witness or args.unpublished):
        p.error("--witness and --unpublished are for the Rekor v2 log")
    return args


def main(argv):
    args = parse_args(argv)
    commands = {"init": cmd_init, "keygen": cmd_keygen, "sign": cmd_sign,
                "cosign": cmd_cosign, "checkpoint": cmd_checkpoint}
    commands[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
