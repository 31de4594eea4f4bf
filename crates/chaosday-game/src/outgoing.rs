//! Outgoing HTTP, what webhooks and `http`/`prometheus` checks share: TLS, their headers, and
//! failures told in words that say what to do.
//!
//! - TLS is rustls (no OpenSSL): the system's root certificates (Slack, Teams, PagerDuty),
//!   plus, per webhook or check, the CA certificates of its `ca_file` (an internal CA, or a
//!   self-signed certificate itself). A certificate that is not trusted fails the call with
//!   a message naming the URL and the fix ([`request_failed`]).
//! - Headers come from the game file: a literal value, or `{env: VARIABLE}` read from the
//!   environment once, when the game starts ([`Outgoing::load`]): a variable that is not set
//!   is an error then, naming the field. Values are marked sensitive and never written to a
//!   log, an error, the API or the report; errors name the header and the variable only.
//!
//! [`Outgoing`] holds what was read at start: the secrets and the CA files' certificates.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::sync::Arc;

use chaosday_domain::game::{Game, HeaderValue, Headers, HttpCall, Problem};
use reqwest::header::{HeaderMap, HeaderName};

use crate::probes::one_line;

/// Reads one environment variable.
type Lookup = dyn Fn(&str) -> Option<OsString> + Send + Sync;

/// Where the values of `{env: VARIABLE}` headers come from: the process's environment, or
/// a map (tests).
#[derive(Clone)]
pub struct Env(Arc<Lookup>);

impl Env {
    /// The process's environment.
    pub fn system() -> Self {
        Env(Arc::new(|variable| std::env::var_os(variable)))
    }

    /// These variables and no others.
    pub fn from_map(variables: BTreeMap<String, String>) -> Self {
        Env(Arc::new(move |variable| {
            variables.get(variable).map(OsString::from)
        }))
    }

    fn get(&self, variable: &str) -> Option<OsString> {
        (self.0)(variable)
    }
}

impl Default for Env {
    fn default() -> Self {
        Env::system()
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Env(..)")
    }
}

/// What outgoing calls need from the environment and the disk, read once when the game
/// starts. Cheap to clone. Its `Debug` shows no secret.
#[derive(Clone, Default)]
pub struct Outgoing {
    /// The value of every variable a header names, marked sensitive.
    secrets: Arc<BTreeMap<String, reqwest::header::HeaderValue>>,
    /// The certificates of every CA file, by the path as written.
    roots: Arc<BTreeMap<String, Vec<reqwest::Certificate>>>,
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("ca_files", &self.roots.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Outgoing {
    /// Reads the variables the game's headers name from `env`, and the CA files its calls
    /// name. Every problem (a variable not set or not a header value, a CA file that does not
    /// read or holds no certificate) comes with its path in the game file and a fix; none
    /// says a value.
    pub fn load(game: &Game, env: &Env) -> Result<Outgoing, Vec<Problem>> {
        Outgoing::load_calls(game.http_calls(), env)
    }

    /// [`Outgoing::load_calls`] for a server about to start: every problem in one error,
    /// naming `whose` calls they are (`the game's`, `the monkey's`).
    pub fn for_start(calls: Vec<HttpCall<'_>>, env: &Env, whose: &str) -> anyhow::Result<Outgoing> {
        Outgoing::load_calls(calls, env).map_err(|problems| {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::anyhow!(
                "{whose} outgoing calls cannot be set up:\n  {}",
                problems.join("\n  ")
            )
        })
    }

    /// [`Outgoing::load`] for the calls of any file (a monkey's), each with its path.
    pub fn load_calls(calls: Vec<HttpCall<'_>>, env: &Env) -> Result<Outgoing, Vec<Problem>> {
        let mut secrets = BTreeMap::new();
        let mut roots = BTreeMap::new();
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String, fix: String| {
            problems.push(Problem { path, message, fix });
        };
        for call in calls {
            for (name, value) in call.headers {
                let HeaderValue::Env { env: variable } = value else {
                    continue;
                };
                if secrets.contains_key(variable) {
                    continue;
                }
                let path = format!("{}.headers.{name}.env", call.path);
                let read = match env.get(variable) {
                    None => Err(format!("`{variable}` is not set")),
                    Some(value) => value
                        .into_string()
                        .map_err(|_| format!("`{variable}` is not UTF-8"))
                        .and_then(|value| {
                            reqwest::header::HeaderValue::from_str(value.trim()).map_err(|_| {
                                format!(
                                    "`{variable}` does not hold a header value (a line break or another control character?)"
                                )
                            })
                        }),
                };
                match read {
                    Ok(mut value) => {
                        value.set_sensitive(true);
                        secrets.insert(variable.clone(), value);
                    }
                    Err(why) => problem(
                        path,
                        format!("{why}: header `{name}` takes its value from it"),
                        format!(
                            "set {variable} in the environment of chaosday to the value of `{name}` (on one line), or remove the header"
                        ),
                    ),
                }
            }
            let Some(file) = call.ca_file else { continue };
            if file.trim().is_empty() || roots.contains_key(file) {
                continue;
            }
            let path = format!("{}.ca_file", call.path);
            match read_ca_file(file) {
                Ok(certificates) => {
                    roots.insert(file.to_owned(), certificates);
                }
                Err((message, fix)) => problem(path, message, fix),
            }
        }
        if problems.is_empty() {
            Ok(Outgoing {
                secrets: Arc::new(secrets),
                roots: Arc::new(roots),
            })
        } else {
            Err(problems)
        }
    }

    /// The request headers of `headers`, their secrets filled in (marked sensitive). A
    /// variable that was not read at start (a call that is not the game's) is an error
    /// naming the header and the variable.
    pub fn headers(&self, headers: &Headers) -> Result<HeaderMap, String> {
        let mut map = HeaderMap::with_capacity(headers.len());
        for (name, value) in headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not an HTTP header name"))?;
            let value = match value {
                HeaderValue::Literal(text) => {
                    let mut value = reqwest::header::HeaderValue::from_str(text).map_err(|_| {
                        format!("the value of header `{name}` holds a control character")
                    })?;
                    // A literal is no secret, but no log is the place for header values.
                    value.set_sensitive(true);
                    value
                }
                HeaderValue::Env { env } => self.secrets.get(env).cloned().ok_or_else(|| {
                    format!("header `{name}`: `{env}` was not read when the game started")
                })?,
            };
            map.insert(header, value);
        }
        Ok(map)
    }

    /// The CA files read at start.
    pub fn ca_files(&self) -> impl Iterator<Item = &str> {
        self.roots.keys().map(String::as_str)
    }

    /// The certificates trusted besides the system's for a call with `ca_file`.
    fn roots(&self, ca_file: &str) -> Result<Vec<reqwest::Certificate>, String> {
        match self.roots.get(ca_file) {
            Some(certificates) => Ok(certificates.clone()),
            None => read_ca_file(ca_file).map_err(|(message, fix)| format!("{message}: {fix}")),
        }
    }

    /// `builder` with TLS that trusts the system's roots and, if `ca_file` is set, its
    /// certificates too.
    pub fn client(
        &self,
        builder: reqwest::ClientBuilder,
        ca_file: Option<&str>,
    ) -> Result<reqwest::Client, String> {
        let builder = match ca_file {
            Some(file) => builder.tls_certs_merge(self.roots(file)?),
            None => builder,
        };
        builder
            .build()
            .map_err(|e| format!("the HTTP client cannot start: {}", chain(&e)))
    }
}

/// The certificates of a PEM file, or what is wrong and how to fix it.
fn read_ca_file(file: &str) -> Result<Vec<reqwest::Certificate>, (String, String)> {
    let fix = || {
        "write the path of a PEM file holding the CA certificate(s) that sign the server's certificate (for a self-signed one, the certificate itself), such as /etc/ssl/internal-ca.pem".to_owned()
    };
    let bytes = std::fs::read(file).map_err(|e| (format!("cannot read `{file}`: {e}"), fix()))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|e| {
        (
            format!("`{file}` is not a PEM file of certificates: {}", chain(&e)),
            fix(),
        )
    })?;
    if certificates.is_empty() {
        return Err((
            format!("`{file}` holds no certificate (no -----BEGIN CERTIFICATE----- block)"),
            fix(),
        ));
    }
    Ok(certificates)
}

/// What went wrong with a request to `url`, in a few words: `connection refused`, `cannot
/// connect to HOST: …`, a TLS failure with what to do, or its causes.
pub fn request_failed(error: &reqwest::Error) -> String {
    let mut causes: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(tls) = tls_error(cause) {
            return tls_failure(error.url(), tls);
        }
        if let Some(io) = cause.downcast_ref::<io::Error>()
            && let Some(words) = io_words(io)
        {
            return words.into();
        }
        causes.push(cause);
        source = cause.source();
    }
    match (causes.first(), causes.last()) {
        (_, Some(innermost)) if error.is_connect() => {
            let host = error
                .url()
                .and_then(|url| url.host_str())
                .unwrap_or("the server");
            format!(
                "cannot connect to {host}: {}",
                one_line(&innermost.to_string())
            )
        }
        // Without reqwest's own "error sending request for url (...)".
        (Some(outermost), _) => chain(*outermost),
        _ => chain(error),
    }
}

/// Whether `error` is a TLS failure (trying again will not help).
pub fn is_tls_failure(error: &reqwest::Error) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if tls_error(cause).is_some() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The rustls error `cause` is or wraps (rustls's errors reach reqwest inside
/// `io::Error`s, whose `source` skips what they wrap).
fn tls_error<'e>(cause: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut current = cause;
    loop {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner: &(dyn std::error::Error + 'static) =
            current.downcast_ref::<io::Error>()?.get_ref()?;
        current = inner;
    }
}

/// A TLS failure with `url`, and what to do about it.
fn tls_failure(url: Option<&reqwest::Url>, error: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let at = url.map_or_else(
        || "the server".to_owned(),
        |url| {
            let mut origin = url.clone();
            origin.set_path("");
            origin.set_query(None);
            origin.to_string()
        },
    );
    match error {
        rustls::Error::InvalidCertificate(why) => match why {
            C::UnknownIssuer | C::BadSignature | C::UnhandledCriticalExtension => format!(
                "TLS: the certificate of {at} is not trusted (not signed by a known CA): set `ca_file` to the PEM of the CA that signed it (for a self-signed certificate, the certificate itself)"
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                "TLS: the certificate of {at} is not valid for that name: write the name it was issued for in the URL"
            ),
            C::Expired | C::ExpiredContext { .. } => {
                format!("TLS: the certificate of {at} has expired: renew it on the server")
            }
            C::NotValidYet | C::NotValidYetContext { .. } => format!(
                "TLS: the certificate of {at} is not valid yet: check the clocks of both machines"
            ),
            C::Revoked => {
                format!("TLS: the certificate of {at} is revoked: replace it on the server")
            }
            other => format!("TLS: the certificate of {at} is refused ({other:?})"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => format!(
            "TLS: {at} does not answer in TLS: is it an http:// server? (write http:// in the URL then)"
        ),
        rustls::Error::AlertReceived(alert) => format!(
            "TLS: {at} refused the handshake ({alert:?}): does it want a client certificate?"
        ),
        other => format!("TLS: the handshake with {at} failed: {other}"),
    }
}

/// The usual network failures, named as people know them.
pub(crate) fn io_words(error: &io::Error) -> Option<&'static str> {
    Some(match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused",
        io::ErrorKind::ConnectionReset => "connection reset",
        io::ErrorKind::ConnectionAborted => "connection aborted",
        io::ErrorKind::HostUnreachable => "host unreachable",
        io::ErrorKind::NetworkUnreachable => "network unreachable",
        io::ErrorKind::AddrNotAvailable => "address not available",
        io::ErrorKind::UnexpectedEof => "the connection closed early",
        io::ErrorKind::TimedOut => "timed out",
        _ => return None,
    })
}

/// An error and its causes, on one line, without the repetitions reqwest and hyper make.
fn chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    one_line(&parts.join(": "))
}
