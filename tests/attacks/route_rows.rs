//! The rows of the routes beyond the log's own proof (negative cases):
//! rebuilder attestations, `[sigsum]`, audit mode, a state directory that
//! cannot be written, state kept per log identity (origin and key).

use bt_exec::verify::exit;

use super::identity::{one_origin_two_keys, replaced_key};
use super::routes::*;
use super::Row;

pub const ROUTE_ROWS: &[Row] = &[
    // --- rebuilder attestations (require.rebuilders) ---
    Row {
        attacker: "log operator",
        attack: "attestation only in an extension never cosigned",
        route: "rebuilder attestation",
        run: || rebuilt(attests_same, Some(4)),
        code: exit::REFUSED,
        says: &["0 of the required 1 rebuilder"],
    },
    Row {
        attacker: "publisher",
        attack: "attests its own release",
        route: "rebuilder attestation",
        run: || rebuilt(publisher_attests_itself, None),
        code: exit::REFUSED,
        says: &["0 of the required 1 rebuilder", "missing [r1]"],
    },
    Row {
        attacker: "publisher",
        attack: "attestation by a key the policy does not list",
        route: "rebuilder attestation",
        run: || rebuilt(attests_with_unlisted_key, None),
        code: exit::REFUSED,
        says: &["missing [r1]"],
    },
    Row {
        attacker: "rebuilder",
        attack: "attests other bytes under the name and version",
        route: "rebuilder attestation",
        run: || rebuilt(attests_other_bytes, None),
        code: exit::REFUSED,
        says: &["missing [r1]"],
    },
    // --- [sigsum]: a Sigsum proof beside the program ---
    Row {
        attacker: "publisher",
        attack: "a proof of other bytes",
        route: "[sigsum]",
        run: || sigsum(|_, _, bytes| bytes.push(b'\n')),
        code: exit::REFUSED,
        says: &["does not prove sha256"],
    },
    Row {
        attacker: "stolen key",
        attack: "a submitter key the policy does not allow",
        route: "[sigsum]",
        run: || sigsum(|_, keys, _| keys[0] = [9; 32]),
        code: exit::REFUSED,
        says: &["does not prove sha256"],
    },
    Row {
        attacker: "no submitter",
        attack: "no key allowed for the program",
        route: "[sigsum]",
        run: || sigsum(|_, keys, _| keys.clear()),
        code: exit::REFUSED,
        says: &["no Sigsum submitter key is allowed"],
    },
    Row {
        attacker: "log operator",
        attack: "cosignature line stripped",
        route: "[sigsum]",
        run: || {
            sigsum(|proof, _, _| {
                *proof = proof
                    .lines()
                    .filter(|l| !l.starts_with("cosignature="))
                    .map(|l| format!("{l}\n"))
                    .collect()
            })
        },
        code: exit::REFUSED,
        says: &["does not prove sha256"],
    },
    Row {
        attacker: "mirror",
        attack: "a crafted inclusion hash",
        route: "[sigsum]",
        run: || {
            sigsum(|proof, _, _| {
                *proof = proof
                    .lines()
                    .map(|l| match l.strip_prefix("node_hash=") {
                        Some(_) => format!("node_hash={}\n", "00".repeat(32)),
                        None => format!("{l}\n"),
                    })
                    .collect()
            })
        },
        code: exit::REFUSED,
        says: &["does not prove sha256"],
    },
    // --- audit mode: runs what is not proven, with a warning ---
    Row {
        attacker: "log operator",
        attack: "fork at the same size",
        route: "audit mode",
        run: || audit_split_view(4),
        code: exit::MISBEHAVIOUR,
        says: &["split view"],
    },
    Row {
        attacker: "log operator",
        attack: "fork at a larger size",
        route: "audit mode",
        run: || audit_split_view(6),
        code: exit::MISBEHAVIOUR,
        says: &["split view"],
    },
    Row {
        attacker: "log operator",
        attack: "extension never cosigned",
        route: "audit mode (runs, with the warning)",
        run: audit_extension,
        code: 0,
        says: &["AUDIT: would refuse", "size 5 is larger than size 4"],
    },
    // --- the state directory cannot be written ---
    Row {
        attacker: "log operator",
        attack: "fork at the same size, evidence not writable",
        route: "bt/index",
        run: split_view_unsaved,
        code: exit::MISBEHAVIOUR,
        says: &["split view", "THE EVIDENCE COULD NOT BE SAVED"],
    },
    // --- state keyed by the log's identity (origin and key) ---
    Row {
        attacker: "log operator",
        attack:
            "a second log of the same origin, other key, counted through the first's cached proof",
        route: "cached proof, cold then warm (logs = 2)",
        run: one_origin_two_keys,
        code: exit::REFUSED,
        says: &["proven in 1 log(s), the policy requires 2", "(key "],
    },
    Row {
        attacker: "log operator",
        attack: "key replaced; state cached under the old key",
        route: "cached proof",
        run: || replaced_key(false),
        code: exit::REFUSED,
        says: &["proven in 0 log(s)"],
    },
    Row {
        attacker: "log operator",
        attack: "key replaced; state cached under the old key",
        route: "--offline",
        run: || replaced_key(true),
        code: exit::UNREACHABLE,
        says: &["no checkpoint of it is cached"],
    },
];
