//! A Sigsum log of one submitted leaf, made here (for tests of the
//! `[sigsum]` route).

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

/// A Sigsum log of two leaves (the `sigsum` crate does not take the
/// one-leaf form without an inclusion part), made here: a submitter signs the file's
/// checksum, a log signs the tree head, a witness cosigns it. Returns the
/// proof text and the Sigsum policy text.
pub fn one_leaf_log(file: &[u8], submitter: &SigningKey) -> (String, String) {
    use base64::Engine;
    let (log, witness) = (
        SigningKey::from_bytes(&[7; 32]),
        SigningKey::from_bytes(&[9; 32]),
    );
    let kh = |k: &SigningKey| -> [u8; 32] { Sha256::digest(k.verifying_key().as_bytes()).into() };
    let checksum: [u8; 32] = Sha256::digest(Sha256::digest(file)).into();
    let leaf_sig = submitter.sign(&[b"sigsum.org/v1/tree-leaf\0".as_slice(), &checksum].concat());
    let leaf = [&checksum[..], &leaf_sig.to_bytes(), &kh(submitter)].concat();
    let h0: [u8; 32] = Sha256::digest([&[0u8][..], &leaf].concat()).into();
    let h1: [u8; 32] = Sha256::digest([&[0u8][..], &[0x55; 128][..]].concat()).into();
    let root: [u8; 32] = Sha256::digest([&[1u8][..], &h0, &h1].concat()).into();
    let body = format!(
        "sigsum.org/v1/tree/{}\n2\n{}\n",
        hex::encode(kh(&log)),
        base64::engine::general_purpose::STANDARD.encode(root)
    );
    let t = 1_790_000_000u64;
    let cosig = witness.sign(format!("cosignature/v1\ntime {t}\n{body}").as_bytes());
    let proof = format!(
        "version=2\nlog={}\nleaf={} {}\n\nsize=2\nroot_hash={}\nsignature={}\ncosignature={} {t} {}\n\nleaf_index=0\nnode_hash={}\n",
        hex::encode(kh(&log)),
        hex::encode(kh(submitter)),
        hex::encode(leaf_sig.to_bytes()),
        hex::encode(root),
        hex::encode(log.sign(body.as_bytes()).to_bytes()),
        hex::encode(kh(&witness)),
        hex::encode(cosig.to_bytes()),
        hex::encode(h1),
    );
    let policy = format!(
        "log {}\nwitness W {}\nquorum W\n",
        hex::encode(log.verifying_key().as_bytes()),
        hex::encode(witness.verifying_key().as_bytes())
    );
    (proof, policy)
}
