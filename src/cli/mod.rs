//! The command lines of `bt-exec` (`cli/exec.rs`) and `bt-log` (`cli/log.rs`), in the
//! library so the man page check (tests/cli_docs.rs) sees exactly what
//! `--help` shows; `src/bin/` parses with them.

mod exec;
mod log;

pub use exec::{
    AlarmCmd, CommonArgs, ExecCli, ExecCmd, GossipCmd, GuardCmd, PolicyCmd, RunArgs, SigsumArgs,
};
pub use log::{
    AddArgs, Cli, Cmd, MonitorArgs, PublishArgs, ServeArgs, WitnessCmd, WitnessServeArgs,
};

/// Writes the completion script of `cmd` (the binary `name`) for `shell`.
pub fn completions(shell: clap_complete::Shell, mut cmd: clap::Command, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    out
}
