//! `bt/index/<hh>`: an untrusted lookup hint (DESIGN §4). Shard `hh` holds a
//! record for every entry whose SHA-256 starts with byte `hh`, in log order:
//! 32 bytes of SHA-256 then the leaf index as a big-endian u64 (40 bytes).
//! A lying shard can only make a lookup fail: every hit is proven by an
//! inclusion proof.

/// A shard is read up to this many bytes (DESIGN §10).
pub const MAX_SHARD_BYTES: usize = 1 << 20;
pub const RECORD_BYTES: usize = 40;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum IndexError {
    #[error("index shard of {0} bytes is not a whole number of 40-byte records")]
    Ragged(usize),
    #[error("index shard larger than {MAX_SHARD_BYTES} bytes")]
    TooLarge,
}

/// The shard path of a hash: `bt/index/<first byte in lowercase hex>`.
pub fn shard_path(sha256: &[u8; 32]) -> String {
    format!("bt/index/{:02x}", sha256[0])
}

pub fn encode_record(sha256: &[u8; 32], index: u64) -> [u8; RECORD_BYTES] {
    let mut r = [0u8; RECORD_BYTES];
    r[..32].copy_from_slice(sha256);
    r[32..].copy_from_slice(&index.to_be_bytes());
    r
}

/// Decodes a shard into (sha256, leaf index) pairs.
pub fn decode_shard(data: &[u8]) -> Result<Vec<([u8; 32], u64)>, IndexError> {
    if data.len() > MAX_SHARD_BYTES {
        return Err(IndexError::TooLarge);
    }
    if data.len() % RECORD_BYTES != 0 {
        return Err(IndexError::Ragged(data.len()));
    }
    Ok(data
        .chunks_exact(RECORD_BYTES)
        .map(|r| {
            let (h, i) = r.split_at(32);
            let mut hash = [0u8; 32];
            hash.copy_from_slice(h);
            let mut idx = [0u8; 8];
            idx.copy_from_slice(i);
            (hash, u64::from_be_bytes(idx))
        })
        .collect())
}

/// The leaf indexes a shard lists for `sha256`.
pub fn lookup(data: &[u8], sha256: &[u8; 32]) -> Result<Vec<u64>, IndexError> {
    Ok(decode_shard(data)?
        .into_iter()
        .filter(|(h, _)| h == sha256)
        .map(|(_, i)| i)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let a = [0xab; 32];
        let mut shard = encode_record(&a, 5).to_vec();
        shard.extend_from_slice(&encode_record(&[0xab; 32], 9));
        shard.extend_from_slice(&encode_record(&[1; 32], 10));
        assert_eq!(lookup(&shard, &a).unwrap(), vec![5, 9]);
        assert_eq!(shard_path(&a), "bt/index/ab");
        assert!(decode_shard(&shard[1..]).is_err());
    }
}
