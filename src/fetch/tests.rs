//! The HTTP client's caps, deadlines and causes, over real sockets.

use super::*;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH};

/// The causes a publisher acts on, from the client's error types over
/// real sockets: a port nothing listens on, a listener whose backlog
/// takes the connection and never answers, and one that sends the
/// head of an answer and stops.
#[test]
fn a_refused_connection_and_a_silent_server_are_told_apart() {
    use std::io::Write;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x", closed.local_addr().unwrap());
    drop(closed);
    let e = post(&url, vec![], 10, Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.cause(), Some(Cause::ConnectionRefused), "{e}");
    let e = Fetcher::new(&url).unwrap().get("", 10).unwrap_err();
    assert_eq!(e.cause(), Some(Cause::ConnectionRefused), "{e}");

    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x", silent.local_addr().unwrap());
    let e = post(&url, vec![], 10, Duration::from_millis(300)).unwrap_err();
    assert_eq!(e.cause(), Some(Cause::AnswerTimedOut), "{e}");

    let halting = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x", halting.local_addr().unwrap());
    let holder = std::thread::spawn(move || {
        use std::io::Read;
        let (mut c, _) = halting.accept().unwrap();
        // The whole request first: an answer that comes before it is
        // an error of another kind.
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") && c.read(&mut byte).unwrap() == 1 {
            request.push(byte[0]);
        }
        c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhalf")
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));
    });
    let e = post(&url, vec![], 10, Duration::from_millis(500)).unwrap_err();
    assert_eq!(e.cause(), Some(Cause::AnswerTimedOut), "{e}");
    holder.join().unwrap();

    // Answers are not causes.
    assert_eq!(
        FetchError::unreachable("u", "m").cause(),
        Some(Cause::Other)
    );
    let status = FetchError::Status {
        url: "u".into(),
        status: 503,
        body: String::new(),
    };
    assert_eq!(status.cause(), None);
}

#[test]
fn content_range_totals() {
    for (v, want) in [
        ("bytes 0-0/12", Some(12)),
        ("BYTES 0-0/12", Some(12)),
        ("bytes 0-11/12", Some(12)),
        ("bytes 0-0/13", Some(13)),
        ("bytes 0-0/1", Some(1)),
        ("bytes 0-0/18446744073709551615", Some(u64::MAX)),
        ("bytes 0-0/18446744073709551616", None),
        ("bytes 0-0/99999999999999999999999", None),
        ("bytes */12", None),
        ("bytes 0-0/*", None),
        ("bytes 0-0/", None),
        ("bytes 0-0/12abc", None),
        ("bytes 0-0/-1", None),
        ("bytes 0-0/+12", None),
        ("bytes 0-0/ 12", None),
        ("bytes 0-0/12 ", None),
        ("bytes 0-0/0", None),
        ("bytes 0-12/12", None),
        ("bytes 1-0/12", None),
        ("bytes 0/12", None),
        ("bytes -0/12", None),
        ("bytes 0-/12", None),
        ("bytes  0-0/12", None),
        ("bytes=0-0/12", None),
        ("bits 0-0/12", None),
        ("0-0/12", None),
        ("12", None),
        ("bytes", None),
        ("", None),
    ] {
        assert_eq!(content_range_total(v.as_bytes()), want, "{v:?}");
    }
    assert_eq!(content_range_total(b"bytes 0-0/12"), Some(12));
    assert_ne!(content_range_total(b"bytes 0-0/13"), Some(12));
}

#[test]
fn content_lengths() {
    let of = |values: &[&[u8]]| {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(CONTENT_LENGTH, HeaderValue::from_bytes(v).unwrap());
        }
        stated_length(&h)
    };
    assert_eq!(of(&[]), Length::NotStated);
    assert_eq!(of(&[b"12"]), Length::Is(12));
    assert_eq!(of(&[b"012"]), Length::Is(12));
    assert_eq!(of(&[b"0"]), Length::Is(0));
    assert_eq!(of(&[b"18446744073709551615"]), Length::Is(u64::MAX));
    assert_eq!(of(&[b"12", b"12"]), Length::Is(12));
    for bad in [
        &[b"12abc".as_slice()][..],
        &[b"-1"],
        &[b"+12"],
        &[b""],
        &[b"1 2"],
        &[b"12, 12"],
        &[b"0x0c"],
        &[b"1.0"],
        &[b"18446744073709551616"],
        &[b"99999999999999999999999999"],
        &[b"12", b"13"],
        &[b"12", b"x"],
    ] {
        assert_eq!(of(bad), Length::Invalid, "{bad:?}");
    }
}

/// A body dripped a byte at a time, each within the client's read
/// timeout, is cut off when the request's time is up: it never holds a
/// request for as long as the cap allows.
#[test]
fn a_dripped_body_is_cut_off_when_the_requests_time_is_up() {
    use std::io::{Read, Write};
    let drip = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/checkpoint", drip.local_addr().unwrap());
    std::thread::spawn(move || {
        let Ok((mut c, _)) = drip.accept() else {
            return;
        };
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") && c.read(&mut byte).unwrap_or(0) == 1 {
            request.push(byte[0]);
        }
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        for _ in 0..1000 {
            if c.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let client = blocking_client().unwrap();
    let resp = client.get(&url).send().unwrap();
    let until = std::time::Instant::now() + Duration::from_millis(500);
    let (e, transient) = read_body(resp, &url, 4096, until).unwrap_err();
    assert!(transient);
    assert!(e.to_string().contains("not read within"), "{e}");
}

/// A body is waited for in proportion to what may be read: a large entry
/// bundle on a slow link is not cut off at the request timeout, and the
/// deadline still bounds it.
#[test]
fn a_body_is_waited_for_in_proportion_to_its_cap() {
    assert_eq!(body_time(8 << 10, None), REQUEST_TIMEOUT);
    assert_eq!(body_time(16 << 20, None), Duration::from_secs(1024));
    assert_eq!(
        body_time(16 << 20, Some(Duration::from_secs(20))),
        Duration::from_secs(20)
    );
}
