//! Scripts written out as the bytes `arbitrary` reads them back from
//! (integers little-endian; an enum's variant a `u32` scaled to the
//! number of variants), so the hand-made seeds in
//! `fuzz/seeds/decision/` are these tests' scripts. Only the operations
//! the seeds use are encoded; the round trip below keeps this honest if
//! `arbitrary` ever reads differently.

use super::super::*;
use super::scenarios;

/// How many [`super::super::world::Candidate`]s there are.
const CANDIDATES: u64 = 11;

fn variant(i: u64, count: u64, out: &mut Vec<u8>) {
    let v = (i << 32).div_ceil(count);
    out.extend_from_slice(&(v as u32).to_le_bytes());
}

fn when(w: When, out: &mut Vec<u8>) {
    out.extend_from_slice(&w.minutes.to_le_bytes());
    out.extend_from_slice(&w.seconds.to_le_bytes());
}

fn op(o: &Op, out: &mut Vec<u8>) {
    const OPS: u64 = 21;
    match o {
        Op::Honest {
            size,
            files,
            other_origin,
        } => {
            variant(0, OPS, out);
            out.extend_from_slice(&size.to_le_bytes());
            out.push(*files);
            out.push(u8::from(*other_origin));
        }
        Op::Fork {
            from_last,
            size,
            at,
            leaf: Leaf::Candidate(c),
            files,
        } => {
            variant(1, OPS, out);
            out.push(u8::from(*from_last));
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&at.to_le_bytes());
            variant(0, 3, out);
            variant(*c as u64, CANDIDATES, out);
            out.push(*files);
        }
        Op::Grow {
            from_last,
            leaf: Leaf::Candidate(c),
            size,
            files,
        } => {
            variant(2, OPS, out);
            out.push(u8::from(*from_last));
            variant(0, 3, out);
            variant(*c as u64, CANDIDATES, out);
            out.extend_from_slice(&size.to_le_bytes());
            out.push(*files);
        }
        Op::Cosign { by, when: w } => {
            variant(4, OPS, out);
            out.push(*by);
            when(*w, out);
        }
        Op::Sidecar {
            tree,
            index,
            size,
            cosigners,
            when: w,
            named,
        } => {
            variant(8, OPS, out);
            out.push(*tree);
            out.extend_from_slice(&index.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.push(*cosigners);
            when(*w, out);
            out.push(u8::from(*named));
        }
        Op::Clock { minutes } => {
            variant(16, OPS, out);
            out.extend_from_slice(&minutes.to_le_bytes());
        }
        Op::Offline(b) => {
            variant(17, OPS, out);
            out.push(u8::from(*b));
        }
        Op::Decide => variant(19, OPS, out),
        Op::Use { second } => {
            variant(20, OPS, out);
            out.push(u8::from(*second));
        }
        other => unreachable!("not encoded for seeds: {other:?}"),
    }
}

/// The policy's byte, then the script.
pub fn encode(setup: Setup, ops: &[Op]) -> Vec<u8> {
    let mut out = vec![setup.byte()];
    for o in ops {
        op(o, &mut out);
    }
    out
}

fn decode(data: &[u8]) -> (Setup, Vec<Op>) {
    let mut u = Unstructured::new(data);
    let setup = Setup::from_byte(u8::arbitrary(&mut u).unwrap());
    let mut ops = vec![];
    while !u.is_empty() {
        ops.push(Op::arbitrary(&mut u).unwrap());
    }
    (setup, ops)
}

#[test]
fn scripts_encode_to_the_bytes_arbitrary_reads_back() {
    for (name, setup, ops, _) in scenarios() {
        let again = decode(&encode(setup, &ops));
        assert_eq!(
            format!("{again:?}"),
            format!("{:?}", (setup, ops)),
            "{name}"
        );
    }
}

/// `fuzz/seeds/decision/<scenario>` holds each scenario's bytes; with
/// `BT_WRITE_SEEDS=1` this writes them.
#[test]
fn the_committed_decision_seeds_are_the_scenarios() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decision");
    let write = std::env::var_os("BT_WRITE_SEEDS").is_some();
    for (name, setup, ops, codes) in scenarios() {
        let bytes = encode(setup, &ops);
        let path = dir.join(name);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert_eq!(
            committed,
            bytes,
            "{} (BT_WRITE_SEEDS=1 rewrites it)",
            path.display()
        );
        assert_eq!(super::super::codes(&bytes), codes, "{name}");
    }
}
