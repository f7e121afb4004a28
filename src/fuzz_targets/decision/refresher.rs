//! The background refresher (src/exec/background.rs) in the game: a run
//! that finds a listed log's saved checkpoint older than `refresh` starts
//! `bt-exec refresh`, played here at once, against what the logs serve at
//! that moment. Whatever it saves must extend what was saved, and a split
//! view it records must be one the truth knows; its alarm refuses the next
//! decision (checked there).

use super::world::REFRESH;
use super::Game;
use crate::log_id::LogId;
use crate::state::State;

impl Game {
    /// Runs the refresher when a decision online would start it.
    pub(super) fn refresher(&mut self) {
        let listed = self.setup.logs();
        let saved_at: Vec<Option<u64>> = (self.logs.iter().take(listed))
            .map(|s| self.state.checkpoint_saved_at(&s.log_id))
            .collect();
        if self.offline || !crate::exec::background::due(&saved_at, self.now, REFRESH) {
            return;
        }
        let before: Vec<Option<Vec<u8>>> = (self.logs.iter())
            .map(|s| self.state.checkpoint(&s.log_id))
            .collect();
        let evidence = self.state.evidence().len();
        let out = self.with_ctx(crate::exec::refresh::refresh);
        if std::env::var_os("BT_DECISION_DEBUG").is_some() {
            eprintln!("refresher: {} {:?}", out.code, out.lines);
        }
        let recorded: Vec<(LogId, Vec<u8>)> =
            self.state.evidence().into_iter().skip(evidence).collect();
        for (id, e) in &recorded {
            assert_eq!(
                out.code, 123,
                "a split view recorded, yet the refresher exited {}",
                out.code
            );
            self.truth.check_split(self.log_of(id), e);
        }
        for (log, before) in before.iter().enumerate() {
            let after = self.state.checkpoint(&self.logs[log].log_id);
            self.truth
                .check_saved(log, before.as_deref(), after.as_deref(), self.now);
        }
    }
}
