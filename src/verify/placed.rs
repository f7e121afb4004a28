//! A release — a name and the bytes it names — placed in the logs that
//! hold it: by its first entry in each, so that logging old bytes again
//! does not make them new.

use crate::entry::Entry;
use crate::history::Seen;

/// One release — a name and the bytes it names — as the checked logs hold
/// it.
#[derive(Debug, Clone)]
pub struct Placed {
    pub name: String,
    pub version: String,
    pub sha256: [u8; 32],
    pub size: u64,
    /// The earliest `published` its entries claim.
    pub published: u64,
    /// Per checked log holding it (by position in the run): the leaf of its
    /// first entry there. A release is placed by its first entry: logging
    /// old bytes again does not make them new.
    pub first: Vec<(usize, u64)>,
    /// The first entry seen (for its `cas` URLs, source and publisher).
    pub entry: Entry,
}

impl Placed {
    pub(super) fn first_in(&self, log: usize) -> Option<u64> {
        self.first.iter().find(|(l, _)| *l == log).map(|(_, i)| *i)
    }

    /// Whether `self` is newer than `other` (another release of the name):
    /// in a log holding both, its first entry comes later; when no checked
    /// log holds both, its publisher claims a later `published` time. Logs
    /// that disagree on the order make each newer than the other, so
    /// neither passes `latest`: a refusal, never a run of the older one.
    pub fn newer_than(&self, other: &Placed) -> bool {
        let mut both = self
            .first
            .iter()
            .filter_map(|&(l, i)| Some((i, other.first_in(l)?)))
            .peekable();
        if both.peek().is_none() {
            return self.published > other.published;
        }
        both.any(|(mine, theirs)| mine > theirs)
    }
}

/// Groups entries (log position, entry) into releases (name, bytes).
pub(super) fn place(entries: impl IntoIterator<Item = (usize, Seen)>) -> Vec<Placed> {
    let mut out: Vec<Placed> = vec![];
    for (log, s) in entries {
        let r = &s.entry.release;
        let at = out
            .iter_mut()
            .find(|p| p.name == r.name && p.sha256 == r.sha256 && p.size == r.size);
        match at {
            Some(p) => {
                p.published = p.published.min(r.published);
                match p.first.iter_mut().find(|(l, _)| *l == log) {
                    Some((_, i)) => *i = (*i).min(s.index),
                    None => p.first.push((log, s.index)),
                }
            }
            None => out.push(Placed {
                name: r.name.clone(),
                version: r.version.clone(),
                sha256: r.sha256,
                size: r.size,
                published: r.published,
                first: vec![(log, s.index)],
                entry: s.entry.clone(),
            }),
        }
    }
    out
}
