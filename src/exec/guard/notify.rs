//! systemd's notification protocol (`sd_notify`): `READY=1` once every
//! filesystem is marked, `WATCHDOG=1` while the workers answer. A
//! datagram to `$NOTIFY_SOCKET`; nothing when the guard was not started
//! by systemd. (Ten lines of the standard library, where a crate would
//! add a dependency for them.)

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Sends `msg` to systemd, when it listens.
pub fn send(msg: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        if let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(name) {
            let _ = sock.send_to_addr(msg.as_bytes(), &addr);
        }
    } else {
        let _ = sock.send_to(msg.as_bytes(), std::path::Path::new(&path));
    }
}

/// Tells systemd the guard is ready, with a status line.
pub fn ready(status: &str) {
    send(&format!("READY=1\nSTATUS={status}"));
}

/// How often to feed the watchdog (half its timeout), when systemd set
/// one for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(100)))
}
