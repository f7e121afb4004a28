//! The rows of the release-history rules over every release of the bytes
//! (DESIGN §6, "What release these bytes are"), each beside its control:
//! another admitted publisher re-logging outdated bytes under its own name,
//! a mirror reordering the index, logs that lag, run records across logs,
//! warm verdicts after the state moved, covers by removed witnesses, a
//! witness dating its cosignature ahead, caps hit on served data.

use bt_exec::verify::exit;

use super::history::*;
use super::Row;

pub const HISTORY_ROWS: &[Row] = &[
    // --- another admitted publisher: old bytes under its own name ---
    Row {
        attacker: "other publisher",
        attack: "re-logs outdated 1.0's bytes as its own release (latest)",
        route: "proof file of its entry",
        run: || relogged("latest = true\n", Hint::ProofFile),
        code: exit::REFUSED,
        says: &["example.org/tool 1.0 is not the latest release: example.org/tool 2.0 (leaf 1 of example.org/log0)"],
    },
    Row {
        attacker: "other publisher",
        attack: "re-logs outdated 1.0's bytes as its own release (latest)",
        route: "cached proof of its entry",
        run: || relogged("latest = true\n", Hint::CachedProof),
        code: exit::REFUSED,
        says: &["example.org/tool 1.0 is not the latest release"],
    },
    Row {
        attacker: "other publisher",
        attack: "re-logs outdated 1.0's bytes as its own release (latest)",
        route: "bt/index",
        run: || relogged("latest = true\n", Hint::Index),
        code: exit::REFUSED,
        says: &["example.org/tool 1.0 is not the latest release"],
    },
    Row {
        attacker: "mirror",
        attack: "reorders bt/index so the other publisher's entry comes first",
        route: "bt/index",
        run: || relogged("latest = true\n", Hint::ReorderedIndex),
        code: exit::REFUSED,
        says: &["example.org/tool 1.0 is not the latest release"],
    },
    Row {
        attacker: "other publisher",
        attack: "re-logs 1.0's bytes after 2.0 ran (no_downgrade, record of a leaf)",
        route: "proof file of its entry",
        run: || relogged_after_2_ran(true),
        code: exit::REFUSED,
        says: &["downgrade: example.org/tool 2.0 ran on this machine before", "1.0 is older"],
    },
    Row {
        attacker: "other publisher",
        attack: "re-logs 1.0's bytes after 2.0 ran (no_downgrade, record by bytes)",
        route: "proof file of its entry",
        run: || relogged_after_2_ran(false),
        code: exit::REFUSED,
        says: &["downgrade: example.org/tool 2.0 ran on this machine before"],
    },
    // --- a log that lags or omits, in a policy that needs one log ---
    Row {
        attacker: "lagging log",
        attack: "log 1 lacks 2.0, log 0 holds it (logs = 1, latest)",
        route: "bt/index",
        run: || lagging("latest = true\n", true, true),
        code: exit::REFUSED,
        says: &["1.0 is not the latest release: example.org/tool 2.0 (leaf 1 of example.org/log0)"],
    },
    Row {
        attacker: "lagging log",
        attack: "log 1 lacks 2.0, log 0 holds 2.0 but omits 1.0 (latest)",
        route: "bt/index",
        run: || lagging("latest = true\n", false, true),
        code: exit::REFUSED,
        says: &["1.0 is not the latest release: example.org/tool 2.0 (leaf 0 of example.org/log0)"],
    },
    Row {
        attacker: "lagging log",
        attack: "NAME@latest with the lagging log listed first",
        route: "NAME@latest",
        run: latest_with_lagging_log_first,
        code: 0,
        says: &["example.org/tool 2.0"],
    },
    Row {
        attacker: "lagging log",
        attack: "2.0 ran through log 0; log 0 down, log 1 proves 1.0 (no_downgrade)",
        route: "bt/index",
        run: || downgrade_through_a_lagging_log(true),
        code: exit::REFUSED,
        says: &["downgrade: example.org/tool 2.0 ran on this machine before (its publisher claims"],
    },
    Row {
        attacker: "mirror",
        attack: "keeps the newer log's entry bundles from being read (logs = 1, latest)",
        route: "bt/index",
        run: || bundles_kept_from_the_history(true),
        code: exit::REFUSED,
        says: &[
            "1.0 is not the latest release: example.org/tool 2.0 (leaf 1 of example.org/log0)",
        ],
    },
    // --- warm verdicts outliving their inputs ---
    Row {
        attacker: "state moved",
        attack: "gossip import saved a checkpoint holding 2.0 (latest)",
        route: "warm (refresh)",
        run: || warm_after_gossip(true),
        code: exit::REFUSED,
        says: &["1.0 is not the latest release: example.org/tool 2.0"],
    },
    Row {
        attacker: "removed witness",
        attack: "a cover recorded under a witness the policy no longer lists",
        route: "min_release_age",
        run: || covered_long_ago_by(removed_witness()),
        code: exit::REFUSED,
        says: &["first seen cosigned by a quorum of the policy's witnesses 60 s ago"],
    },
    // --- a witness: a bad line costs that witness only ---
    Row {
        attacker: "witness",
        attack: "one of three dates its cosignature a year ahead",
        route: "bt/index",
        run: || cosigned_ahead(1),
        code: 0,
        says: &["proven in 1 of 1", "w2.example is dated 31536000 s in the future; it is not counted"],
    },
    Row {
        attacker: "witness",
        attack: "two of three date their cosignatures a year ahead (the quorum is in the future)",
        route: "bt/index",
        run: || cosigned_ahead(2),
        code: exit::REFUSED,
        says: &["met only with cosignatures dated in the future", "check this machine's clock"],
    },
    // --- a mirror: caps hit are unreachable, never refused ---
    Row {
        attacker: "mirror",
        attack: "an entry bundle over its cap",
        route: "bt/index, cold",
        run: || {
            over_cap(
                |_| "tile/entries/000.p/4".into(),
                bt_exec::tlog::tiles::MAX_BUNDLE_BYTES,
            )
        },
        code: exit::UNREACHABLE,
        says: &["over its cap"],
    },
    Row {
        attacker: "mirror",
        attack: "an index shard over its cap",
        route: "bt/index, cold",
        run: || {
            over_cap(
                |_| format!("bt/index/{:02x}", super::world::program("1.0").1[0]),
                bt_exec::index::MAX_SHARD_BYTES,
            )
        },
        code: exit::UNREACHABLE,
        says: &["over its cap"],
    },
    Row {
        attacker: "mirror",
        attack: "a hash tile over its cap",
        route: "bt/index, cold",
        run: || over_cap(|_| "tile/0/000.p/4".into(), bt_exec::tlog::tiles::MAX_TILE_BYTES),
        code: exit::UNREACHABLE,
        says: &["tile/0/000.p/4"],
    },
    Row {
        attacker: "mirror",
        attack: "a checkpoint over its cap",
        route: "bt/index, cold",
        run: || over_cap(|_| "checkpoint".into(), bt_exec::tlog::MAX_CHECKPOINT_BYTES),
        code: exit::UNREACHABLE,
        says: &["the log cannot be reached"],
    },
    Row {
        attacker: "mirror",
        attack: "cuts 1.0's records from bt/index (latest)",
        route: "bt/index, history view",
        run: || index_cut("latest = true\n"),
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "mirror",
        attack: "cuts 1.0's records from bt/index (no history rule)",
        route: "bt/index",
        run: || index_cut(""),
        code: exit::REFUSED,
        says: &["not in this log"],
    },
    Row {
        attacker: "mirror",
        attack: "cuts bt/index in the middle of a record",
        route: "bt/index",
        run: index_ragged,
        code: exit::UNREACHABLE,
        says: &["not a whole number of 40-byte records"],
    },
    Row {
        attacker: "other publisher",
        attack: "re-logs outdated 1.0's bytes as its own release (latest)",
        route: "proof file of its entry, --offline",
        run: relogged_offline,
        code: exit::REFUSED,
        says: &["example.org/tool 1.0 is not the latest release"],
    },
    Row {
        attacker: "removed witness",
        attack: "a cover recorded under a witness the policy no longer lists",
        route: "min_release_age, warm (refresh)",
        run: || covered_long_ago_warm(removed_witness()),
        code: exit::REFUSED,
        says: &["first seen cosigned by a quorum of the policy's witnesses 60 s ago"],
    },
    Row {
        attacker: "witness",
        attack: "one of three dates its cosignature a year ahead",
        route: "gossip",
        run: gossiped_ahead,
        code: 0,
        says: &["saved with 3 signature lines"],
    },
    // --- the controls ---
    Row {
        attacker: "none",
        attack: "a log never read before is kept from being read (logs = 1, latest)",
        route: "bt/index",
        run: || bundles_kept_from_the_history(false),
        code: 0,
        says: &["was never read before: a newer release it may hold is not known here"],
    },
    Row {
        attacker: "none",
        attack: "2.0, with the other publisher's re-log of 1.0 beside it (latest)",
        route: "bt/index",
        run: two_beside_a_relog,
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "none",
        attack: "1.0 when both logs lack 2.0 (logs = 1, latest)",
        route: "bt/index",
        run: || lagging("latest = true\n", true, false),
        code: 0,
        says: &["proven in 2 of 2"],
    },
    Row {
        attacker: "none",
        attack: "log 0 down, log 1 proves 1.0, nothing newer ran (no_downgrade)",
        route: "bt/index",
        run: || downgrade_through_a_lagging_log(false),
        code: 0,
        says: &["proven in 1 of 2"],
    },
    Row {
        attacker: "none",
        attack: "nothing newer gossiped (latest)",
        route: "warm (refresh)",
        run: || warm_after_gossip(false),
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "none",
        attack: "covered ten days ago by both current witnesses",
        route: "min_release_age",
        run: || covered_long_ago_by(None),
        code: 0,
        says: &["proven in 1 of 1"],
    },
    Row {
        attacker: "none",
        attack: "all three witnesses cosign now",
        route: "bt/index",
        run: || cosigned_ahead(0),
        code: 0,
        says: &["proven in 1 of 1"],
    },
];
