//! C2SP `tlog-proof` files: index, inclusion proof and checkpoint in one text.

use base64::{engine::general_purpose::STANDARD as B64, Engine};

use super::checkpoint::{parse_hash, parse_size};
use super::error::TlogError;
use tlog_tiles::Hash;

/// No valid proof in a tree of at most 2^63 − 1 leaves is longer than this.
pub const MAX_PROOF_HASHES: usize = 63;

/// A tlog-proof is read up to this many bytes (DESIGN §10).
pub const MAX_PROOF_BYTES: usize = 1 << 20;
const HEADER: &str = "c2sp.org/tlog-proof@v1";

#[derive(Debug, Clone, PartialEq)]
pub struct TlogProof {
    /// Unauthenticated extra data (for bt-exec: the leaf, DESIGN §2).
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub proof: Vec<Hash>,
    /// The checkpoint note, verbatim.
    pub checkpoint: Vec<u8>,
}

impl TlogProof {
    pub fn parse(data: &[u8]) -> Result<Self, TlogError> {
        let bad = |why: &str| TlogError::BadProofFile(why.to_string());
        if data.len() > MAX_PROOF_BYTES {
            return Err(TlogError::TooLarge("tlog-proof", MAX_PROOF_BYTES));
        }
        let text = std::str::from_utf8(data).map_err(|_| bad("not UTF-8"))?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(bad("first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or_else(|| bad("missing index line"))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(B64.decode(b64).map_err(|_| bad("extra is not base64"))?);
            line = lines.next().ok_or_else(|| bad("missing index line"))?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_size)
            .ok_or_else(|| bad("bad index line"))?;
        let mut proof = Vec::new();
        for l in lines {
            if proof.len() == MAX_PROOF_HASHES {
                return Err(bad("inclusion proof is too long"));
            }
            proof.push(parse_hash(l).ok_or_else(|| bad("bad proof hash line"))?);
        }
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut s = format!("{HEADER}\n");
        if let Some(e) = &self.extra {
            s.push_str(&format!("extra {}\n", B64.encode(e)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            s.push_str(&B64.encode(h.0));
            s.push('\n');
        }
        s.push('\n');
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.checkpoint);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_rejects() {
        let p = TlogProof {
            extra: Some(b"leaf".to_vec()),
            index: 7,
            proof: vec![Hash([1; 32]), Hash([2; 32])],
            checkpoint: b"o\n8\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n- sig\n".to_vec(),
        };
        assert_eq!(TlogProof::parse(&p.encode()).unwrap(), p);
        let text = String::from_utf8(p.encode()).unwrap();
        for bad in [
            text.replace("tlog-proof@v1", "tlog-proof@v2"),
            text.replace("index 7", "index 07"),
            text.replace("index 7", "index -7"),
            text.replacen("\n\n", "\n", 1),
            text.replace("extra ", "extra !"),
        ] {
            assert!(TlogProof::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
