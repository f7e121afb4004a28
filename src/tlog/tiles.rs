//! C2SP `tlog-tiles` paths and entry bundles.
//!
//! `tlog_tiles` (a port of Go's `sumdb/tlog`) does the tile math, but writes
//! Go sumdb paths (`tile/8/0/000`); the C2SP paths are written here.

use super::TlogError;

/// Tile height of C2SP tlog-tiles: 2^8 = 256 hashes or entries per tile.
pub const TILE_HEIGHT: u8 = 8;
/// Entries in a full tile or bundle.
pub const TILE_WIDTH: u64 = 256;
/// A hash tile is read up to this many bytes (DESIGN §10).
pub const MAX_TILE_BYTES: usize = 256 * 32;
/// One entry in a bundle is at most this large (DESIGN §3: a leaf ≤ 64 KiB).
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;
/// An entry bundle is read up to this many bytes (DESIGN §10).
pub const MAX_BUNDLE_BYTES: usize = 256 * (MAX_ENTRY_BYTES + 2);

/// The N part of a tile path: groups of three digits, all but the last
/// prefixed with `x` (`1234067` → `x001/x234/067`).
pub fn index_path(n: u64) -> String {
    let mut parts = vec![format!("{:03}", n % 1000)];
    let mut n = n / 1000;
    while n > 0 {
        parts.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    parts.reverse();
    parts.join("/")
}

fn width_suffix(width: u64) -> String {
    if width == TILE_WIDTH {
        String::new()
    } else {
        format!(".p/{width}")
    }
}

/// `tile/<L>/<N>[.p/<W>]`.
pub fn hash_tile_path(level: u8, n: u64, width: u64) -> String {
    format!("tile/{level}/{}{}", index_path(n), width_suffix(width))
}

/// `tile/entries/<N>[.p/<W>]`.
pub fn bundle_path(n: u64, width: u64) -> String {
    format!("tile/entries/{}{}", index_path(n), width_suffix(width))
}

/// The width of tile `n` at level `level` in a tree of `size` leaves
/// (0 when the tile does not exist at that size).
pub fn tile_width(level: u8, n: u64, size: u64) -> u64 {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    let count = if shift >= 64 { 0 } else { size >> shift };
    let start = n.saturating_mul(TILE_WIDTH);
    count.saturating_sub(start).min(TILE_WIDTH)
}

/// Encodes an entry bundle: each entry as a big-endian u16 length and bytes.
pub fn encode_bundle<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, TlogError> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).map_err(|_| TlogError::TooLarge("entry", 65535))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decodes an entry bundle that must hold exactly `want` entries.
pub fn decode_bundle(data: &[u8], want: usize) -> Result<Vec<&[u8]>, TlogError> {
    if data.len() > MAX_BUNDLE_BYTES {
        return Err(TlogError::TooLarge("entry bundle", MAX_BUNDLE_BYTES));
    }
    let mut out = Vec::with_capacity(want);
    let mut rest = data;
    while !rest.is_empty() {
        let [a, b, tail @ ..] = rest else {
            return Err(TlogError::BadBundle("truncated length prefix".into()));
        };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        if tail.len() < len {
            return Err(TlogError::BadBundle(format!(
                "entry {} claims {len} bytes, {} remain",
                out.len(),
                tail.len()
            )));
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
    }
    if out.len() != want {
        return Err(TlogError::BadBundle(format!(
            "holds {} entries, expected {want}",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(hash_tile_path(0, 0, 256), "tile/0/000");
        assert_eq!(hash_tile_path(1, 1234067, 3), "tile/1/x001/x234/067.p/3");
        assert_eq!(bundle_path(1000, 256), "tile/entries/x001/000");
        assert_eq!(bundle_path(5, 1), "tile/entries/005.p/1");
        assert_eq!(tile_width(0, 0, 600), 256);
        assert_eq!(tile_width(0, 2, 600), 88);
        assert_eq!(tile_width(1, 0, 600), 2);
        assert_eq!(tile_width(0, 3, 600), 0);
    }

    #[test]
    fn bundles() {
        let b = encode_bundle([&b"one"[..], b"", b"three"]).unwrap();
        assert_eq!(
            decode_bundle(&b, 3).unwrap(),
            vec![&b"one"[..], b"", b"three"]
        );
        assert!(decode_bundle(&b, 2).is_err());
        assert!(decode_bundle(&b[..b.len() - 1], 3).is_err());
        assert!(decode_bundle(&[0], 0).is_err());
    }
}
