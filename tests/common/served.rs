//! A static HTTP server for a test world's logs that records every request
//! as it arrives and can delay each response: Python's `http.server`,
//! threaded. Included by tests/refresh.rs (`#[path]`), which follows what
//! a run and the background refresher fetch, and whether a run waits.

use std::fs;
use std::path::PathBuf;

use super::common::{self, world::World};

/// Python's static file server, threaded, serving `root`: appends
/// `METHOD PATH` to `access` as each request arrives, then waits the
/// seconds written in the file `delay` (none while it is absent).
const SERVER: &str = r#"
import functools, http.server, sys, threading, time
root, access, delay = sys.argv[1:4]
lock = threading.Lock()
class H(http.server.SimpleHTTPRequestHandler):
    def pause(self):
        with lock, open(access, 'a') as f:
            f.write(self.command + ' ' + self.path + '\n')
        try:
            with open(delay) as f:
                time.sleep(float(f.read()))
        except (OSError, ValueError):
            pass
    def do_GET(self):
        self.pause()
        super().do_GET()
    def do_HEAD(self):
        self.pause()
        super().do_HEAD()
    def log_message(self, *args):
        pass
s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(H, directory=root))
s.daemon_threads = True
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

/// The [`SERVER`] serving some of a world's logs; killed when dropped.
pub struct Served {
    _proc: common::Proc,
    access: PathBuf,
    delay: PathBuf,
}

impl Served {
    /// Serves logs `which` of `w` over HTTP (the others stay `file://`);
    /// the policy must be written after this.
    pub fn start(w: &mut World, which: &[usize]) -> Served {
        let access = w.root.join("access.log");
        let delay = w.root.join("delay");
        let (proc, url) = common::helper_server(&[
            "-c",
            SERVER,
            w.root.to_str().unwrap(),
            access.to_str().unwrap(),
            delay.to_str().unwrap(),
        ]);
        for &i in which {
            w.logs[i].url = format!("{url}/log{i}");
        }
        Served {
            _proc: proc,
            access,
            delay,
        }
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<String> {
        let text = fs::read_to_string(&self.access).unwrap_or_default();
        text.lines().map(String::from).collect()
    }

    /// How many times each of the first `n` logs' checkpoint was fetched.
    pub fn checkpoint_gets(&self, n: usize) -> Vec<usize> {
        let requests = self.requests();
        (0..n)
            .map(|i| {
                let want = format!("GET /log{i}/checkpoint");
                requests.iter().filter(|r| **r == want).count()
            })
            .collect()
    }

    pub fn set_delay(&self, secs: u64) {
        fs::write(&self.delay, secs.to_string()).unwrap();
    }
}
