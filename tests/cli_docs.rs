//! The man pages keep up with the command lines: every subcommand and every
//! long option `--help` shows is documented in man/bt-log.1 and man/bt-exec.1.

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

fn check(page: &str, cmd: clap::Command) {
    let man =
        std::fs::read_to_string(format!("{}/man/{page}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut cmds = vec![];
    walk(&cmd, "", &mut cmds);
    assert!(cmds.len() >= 5);
    for (path, flags) in cmds {
        if let Some(last) = path.split(' ').next_back().filter(|s| !s.is_empty()) {
            let documented = [
                ".B ",
                ".B witness ",
                ".B gossip ",
                ".B alarm ",
                ".B policy ",
            ]
            .map(|p| format!("{p}{last}"));
            assert!(
                documented.iter().any(|d| man.contains(d.as_str())),
                "{page} lacks command {path:?}"
            );
        }
        for f in flags {
            assert!(man.contains(&f), "{page} lacks {f} of {path:?}");
        }
    }
    cmd.debug_assert();
}

#[test]
fn man_pages_document_every_command_and_option() {
    check("bt-log.1", bt_exec::cli::Cli::command());
    check("bt-exec.1", bt_exec::cli::ExecCli::command());
}

/// Shell completions come from the command lines themselves, for each
/// shell install.sh installs them for: every subcommand is in them.
#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    let cases = [
        (
            env!("CARGO_BIN_EXE_bt-log"),
            "bt-log",
            ["publish", "witness", "cosign"],
        ),
        (
            env!("CARGO_BIN_EXE_bt-exec"),
            "bt-exec",
            ["verify", "gossip", "status"],
        ),
    ];
    for (bin, name, subcommands) in cases {
        for shell in ["bash", "zsh", "fish"] {
            let out = std::process::Command::new(bin)
                .args(["completions", shell])
                .output()
                .unwrap();
            assert!(out.status.success(), "{name} completions {shell}");
            let script = String::from_utf8(out.stdout).unwrap();
            assert!(script.contains(name), "{name} {shell}: {script}");
            for s in subcommands {
                assert!(script.contains(s), "{name} {shell} lacks {s}");
            }
        }
    }
    // Not a shell: a usage error, nothing on stdout.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bt-log"))
        .args(["completions", "cmd.exe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
