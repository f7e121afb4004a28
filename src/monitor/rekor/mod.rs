//! `bt-log monitor --rekor`: follow a Rekor v2 log (Sigstore's tiled log, a
//! C2SP tlog-tiles log with Ed25519 checkpoints) and list its entries by
//! digest and signer, so a watcher sees every signature made as an
//! identity it cares about.
//!
//! The pass is the monitor's own: the checkpoint verified (log key,
//! witnesses, quorum) and proven to extend the saved one (a split view or
//! rollback with both notes as evidence), every new hash tile and entry
//! bundle verified bottom-up to the root, each entry decoded strictly
//! ([`entry`]); the state is saved only when all of it verified.
//!
//! Alerts (exit status 4): an entry signed as a watched identity
//! (`--identity`) with a certificate from another OIDC issuer than
//! `--issuer`, or, without `--issuer`, from an issuer the identities of that
//! pattern were not seen with by an earlier pass that watched them. An
//! identity is only as good as the issuer that vouched for it: a second
//! issuer for it is how a lost mailbox or a misconfigured identity
//! provider shows. And any certificate naming more than one identity
//! ([`entry::Signer::Certificate`]): verifiers differ in which SAN they
//! take as the signer.

pub mod entry;
pub mod state;

pub use entry::{EntryError, Kind, RekorEntry, Signer};
pub use state::RekorState;

use crate::fsutil::terminal_safe;
use crate::history::growth::{self, Counters, LeafCheck};
use crate::sigstore::SanPattern;

use super::{Fault, MonitorOptions, Outcome};

/// What a watcher asks to see (`--identity`, `--issuer`, `--signer-key`,
/// `--sha256`). With none, every entry is listed.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub identities: Vec<SanPattern>,
    /// The OIDC issuers a watched identity's certificate may come from.
    pub issuers: Vec<String>,
    /// SHA-256 of the DER public keys whose signatures to list.
    pub keys: Vec<[u8; 32]>,
    /// Digests to list (the entry's own: see [`entry::Digest`]).
    pub sha256: Vec<[u8; 32]>,
}

impl Watch {
    /// The first watched pattern one of a certificate signer's SANs
    /// matches, and that SAN.
    fn pattern_for<'s>(&self, s: &'s Signer) -> Option<(&SanPattern, &'s str)> {
        s.sans()
            .find_map(|san| Some((self.identities.iter().find(|p| p.matches(san))?, san)))
    }

    fn signer_matches(&self, s: &Signer) -> bool {
        match s {
            Signer::Key { sha256 } => self.keys.contains(sha256),
            Signer::Certificate { issuer, .. } => {
                self.pattern_for(s).is_some()
                    && (self.issuers.is_empty()
                        || issuer.as_ref().is_some_and(|i| self.issuers.contains(i)))
            }
        }
    }

    /// Whether `e` is one to list: signed by a watched identity or key (when
    /// any is named), and of a watched digest (when any is named).
    pub fn matches(&self, e: &RekorEntry) -> bool {
        let who = (self.identities.is_empty() && self.keys.is_empty())
            || e.signers.iter().any(|s| self.signer_matches(s));
        let what = self.sha256.is_empty()
            || (e.digest.algorithm == entry::DigestAlgorithm::Sha256
                && self.sha256.iter().any(|h| h[..] == e.digest.bytes[..]));
        who && what
    }
}

/// An entry seen in this pass.
pub struct Seen<'a> {
    pub index: u64,
    pub entry: &'a RekorEntry,
    /// It matches the watch (every entry does when nothing is watched).
    pub matched: bool,
    pub alerts: Vec<String>,
}

impl Seen<'_> {
    /// Listed: it matches the watch, or raised an alert.
    pub fn listed(&self) -> bool {
        self.matched || !self.alerts.is_empty()
    }

    /// One line: index, kind, digest (`payload` before a dsse entry's), and
    /// each signer; escaped for a terminal.
    pub fn line(&self) -> String {
        let e = self.entry;
        let what = match e.kind {
            Kind::HashedRekord => "",
            Kind::Dsse => "payload ",
        };
        let who: Vec<String> = e.signers.iter().map(Signer::describe).collect();
        format!(
            "{} {} {what}{} {}",
            self.index,
            e.kind.name(),
            e.digest.text(),
            who.join(", ")
        )
    }

    /// One JSON object (the strings the log gave, escaped as on a terminal).
    pub fn json(&self) -> serde_json::Value {
        let e = self.entry;
        let signers: Vec<serde_json::Value> = e
            .signers
            .iter()
            .map(|s| match s {
                Signer::Certificate {
                    san,
                    other_sans,
                    issuer,
                } => serde_json::json!({
                    "identity": san.as_ref().map(|(_, v)| terminal_safe(v)),
                    "identity_type": san.as_ref().map(|(k, _)| k.name()),
                    "other_identities": other_sans.iter().map(|(_, v)| terminal_safe(v)).collect::<Vec<_>>(),
                    "issuer": issuer.as_deref().map(terminal_safe),
                }),
                Signer::Key { sha256 } => serde_json::json!({ "key_sha256": hex::encode(sha256) }),
            })
            .collect();
        serde_json::json!({
            "index": self.index,
            "kind": e.kind.name(),
            "digest_algorithm": e.digest.algorithm.name(),
            "digest": hex::encode(&e.digest.bytes),
            "digest_of": match e.kind {
                Kind::HashedRekord => "signed_bytes",
                Kind::Dsse => "dsse_payload",
            },
            "signers": signers,
            "signatures_checked": e.signatures_checked,
            "alerts": self.alerts.iter().map(|a| terminal_safe(a)).collect::<Vec<_>>(),
        })
    }
}

/// Rekor v2 entries, each decoded and checked ([`RekorEntry::decode`]).
pub struct RekorLeaves;

impl LeafCheck for RekorLeaves {
    type Leaf = RekorEntry;

    fn check(&self, first: u64, leaves: &[&[u8]]) -> Result<Vec<RekorEntry>, String> {
        leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| {
                RekorEntry::decode(leaf).map_err(|e| format!("entry {}: {e}", first + i as u64))
            })
            .collect()
    }
}

/// One monitoring pass of a Rekor v2 log. `emit` sees every new entry in
/// log order; nothing is saved unless all of them verified.
pub fn run(
    o: &MonitorOptions,
    watch: &Watch,
    emit: &mut dyn FnMut(&Seen),
) -> Result<Outcome, Fault> {
    let (fetcher, note, new) = super::signed_checkpoint(o)?;
    let origin = o.key.name.clone();
    let dir = RekorState::dir_for(&o.state_root, &origin);
    let mut st = RekorState::load(&dir, &origin, &o.key, &super::witness_keys(o))?;
    let counters = Counters::default();
    let old = st.checkpoint.clone();
    let old_size = old.as_ref().map_or(0, |c| c.checkpoint.size);
    if let Some(old) = &old {
        super::against_saved(&dir, &fetcher, old, &note, &new, &counters, o.now)?;
    }
    let mut alerts = 0u64;
    let bar = super::progress(o.progress, new.checkpoint.size.saturating_sub(old_size));
    growth::verify_leaves(
        &fetcher,
        old.as_ref().map(|c| &c.checkpoint),
        &new.checkpoint,
        &counters,
        &RekorLeaves,
        &mut |index, entry| {
            let a = alerts_for(&mut st, watch, index, entry);
            alerts += a.len() as u64;
            emit(&Seen {
                index,
                entry,
                matched: watch.matches(entry),
                alerts: a,
            });
            bar.inc(1);
        },
    )
    .map_err(|f| super::with_evidence(f.into(), &dir, old.as_ref(), &note, o.now))?;
    bar.finish_and_clear();
    st.commit(&new.verified_note)?;
    Ok(Outcome::of(
        new.checkpoint.size,
        old_size,
        &counters,
        alerts,
    ))
}

/// The alerts an entry raises (see the module doc), remembering the
/// issuers watched identities were seen with.
fn alerts_for(st: &mut RekorState, w: &Watch, index: u64, e: &RekorEntry) -> Vec<String> {
    let mut out = Vec::new();
    for s in &e.signers {
        if let Signer::Certificate {
            other_sans, issuer, ..
        } = s
        {
            if !other_sans.is_empty() {
                let all: Vec<&str> = s.sans().collect();
                out.push(format!(
                    "a certificate naming {} identities ({}), issuer {}: Fulcio certifies one, and verifiers differ in which they take as the signer",
                    all.len(),
                    all.join(", "),
                    issuer.as_deref().unwrap_or("(none)")
                ));
            }
        }
        let (Some((pattern, san)), Signer::Certificate { issuer, .. }) = (w.pattern_for(s), s)
        else {
            continue;
        };
        let shown = issuer.as_deref().map_or("(none)", |i| i);
        let expected = issuer.as_ref().is_some_and(|i| w.issuers.contains(i));
        if !w.issuers.is_empty() && !expected {
            out.push(format!(
                "{san} signed with a certificate from OIDC issuer {shown}, not {}",
                w.issuers.join(" or ")
            ));
        }
        let before = st.saw(&pattern.to_string(), issuer.as_deref(), index);
        if w.issuers.is_empty() && before.is_some_and(|n| n > 0) {
            out.push(format!(
                "{san} signed with a certificate from OIDC issuer {shown}; identities matching {pattern} were seen only with other issuers before"
            ));
        }
    }
    out.iter().map(|a| terminal_safe(a)).collect()
}

#[cfg(test)]
mod tests;
