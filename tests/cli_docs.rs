//! The man page and README keep up with the command line: every subcommand
//! and every long option `--help` shows is documented in man/bt-log.1.

use clap::CommandFactory;

fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<(String, Vec<String>)>) {
    let flags = cmd
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "help" && *l != "version")
        .map(|l| format!("\\-\\-{}", l.replace('-', "\\-")))
        .collect();
    out.push((path.trim().to_string(), flags));
    for sub in cmd.get_subcommands() {
        if sub.get_name() != "help" {
            walk(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }
}

#[test]
fn man_page_documents_every_command_and_option() {
    let man =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/bt-log.1")).unwrap();
    let mut cmds = vec![];
    walk(&bt_exec::cli::Cli::command(), "", &mut cmds);
    assert!(cmds.len() >= 6);
    for (path, flags) in cmds {
        if let Some(last) = path.split(' ').next_back().filter(|s| !s.is_empty()) {
            assert!(
                man.contains(&format!(".B {last}")) || man.contains(&format!(".B witness {last}")),
                "man page lacks command {path:?}"
            );
        }
        for f in flags {
            assert!(man.contains(&f), "man page lacks {f} of {path:?}");
        }
    }
    bt_exec::cli::Cli::command().debug_assert();
}
