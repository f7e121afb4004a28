//! The README's quickstart (scripts/quickstart.sh) runs as written, with the
//! binaries this build made.

use std::process::Command;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn quickstart_runs() {
    if Command::new("curl").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must have curl");
        eprintln!("SKIP quickstart_runs: curl not found");
        return;
    }
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_bt-log"))
        .parent()
        .unwrap()
        .to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/quickstart.sh"
        ))
        .env("PATH", path)
        .env("QS_DIR", dir.path())
        .env("LOG_PORT", free_port().to_string())
        .env("WITNESS_PORT", free_port().to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("— witness.example "),
        "cosigned checkpoint shown: {stdout}"
    );
    assert!(
        stdout.contains("hello from a logged program: world"),
        "{stdout}"
    );
    // Once by path, once by name (NAME@latest, fetched from the CAS).
    assert_eq!(
        stdout.matches("hello from a logged program: world").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("refused with status 126"), "{stdout}");
    assert!(
        stdout.contains("\"name\":\"example.org/hello\""),
        "{stdout}"
    );
}
