//! Why a read from the network failed, typed: what a caller decides from.

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FetchError {
    #[error("{url}: {msg}")]
    Unreachable {
        url: String,
        msg: String,
        /// Why, as the HTTP client or the system typed it.
        cause: Cause,
    },
    #[error("{url}: more than {cap} bytes; refused without reading the rest")]
    TooLarge { url: String, cap: usize },
    /// The bytes served are not the ones asked for (their hash differs).
    #[error("{url}: served other bytes (sha256 {got}, the release is {want})")]
    OtherBytes {
        url: String,
        got: String,
        want: String,
    },
    #[error("{url}: HTTP {status}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
}

/// Why a server could not be reached, read from the types of the HTTP
/// client's and the system's errors (`reqwest::Error::is_timeout`,
/// `is_connect`, `std::io::ErrorKind`), never from their wording: a
/// publisher gives up on a log that refuses connections and waits for one
/// that is slow (src/publish/logs.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The connection was refused: nothing listens at that address.
    ConnectionRefused,
    /// No connection within [`CONNECT_TIMEOUT`]: the host does not answer
    /// (down, or packets dropped on the way).
    ConnectTimedOut,
    /// Connected, but the whole answer did not come within the time
    /// allowed.
    AnswerTimedOut,
    /// Anything else: a name that does not resolve, TLS, a connection
    /// reset, a local file, a deadline that passed before a request.
    Other,
}

impl Cause {
    /// What the HTTP client says went wrong.
    pub fn of_http(e: &reqwest::Error) -> Cause {
        if e.is_timeout() {
            if e.is_connect() {
                Cause::ConnectTimedOut
            } else {
                Cause::AnswerTimedOut
            }
        } else if e.is_connect() && refused(e) {
            Cause::ConnectionRefused
        } else {
            Cause::Other
        }
    }

    /// What an error reading an answer's body says: the HTTP client's
    /// error inside it, or the system's.
    pub fn of_io(e: &std::io::Error) -> Cause {
        if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<reqwest::Error>()) {
            return Cause::of_http(inner);
        }
        match e.kind() {
            std::io::ErrorKind::TimedOut => Cause::AnswerTimedOut,
            std::io::ErrorKind::ConnectionRefused => Cause::ConnectionRefused,
            _ => Cause::Other,
        }
    }
}

/// Whether an `io::Error` of kind `ConnectionRefused` is among the causes
/// of `e` (the socket's own error, under the client's connect error).
fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut at = Some(e);
    while let Some(err) = at {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        at = err.source();
    }
    false
}

impl FetchError {
    /// Unreachable for a reason no type tells apart ([`Cause::Other`]).
    pub fn unreachable(url: impl Into<String>, msg: impl Into<String>) -> FetchError {
        FetchError::Unreachable {
            url: url.into(),
            msg: msg.into(),
            cause: Cause::Other,
        }
    }

    /// Unreachable, as the HTTP client's error says.
    pub fn of_http(url: &str, e: &reqwest::Error) -> FetchError {
        FetchError::Unreachable {
            url: url.into(),
            msg: e.to_string(),
            cause: Cause::of_http(e),
        }
    }

    /// Unreachable while reading an answer's body.
    pub fn of_body(url: &str, e: &std::io::Error) -> FetchError {
        FetchError::Unreachable {
            url: url.into(),
            msg: e.to_string(),
            cause: Cause::of_io(e),
        }
    }

    /// Why the server could not be reached; `None` when it was (it
    /// answered with an error, or too much).
    pub fn cause(&self) -> Option<Cause> {
        match self {
            FetchError::Unreachable { cause, .. } => Some(*cause),
            _ => None,
        }
    }
}
