//! Why a [`crate::Registry`] operation failed: [`RegistryError`].
//!
//! A leaf module: it knows no other module of this crate. It says what went wrong in the
//! registry's terms; what an HTTP API answers for each variant is that API's business (the
//! Toxiproxy API's mapping is in [`crate::toxiproxy`]). The messages of the not-found and
//! already-exists variants are Toxiproxy's own words, so that every caller words them alike.

/// Why the registry refused or failed an operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No proxy has this name.
    #[error("proxy not found")]
    ProxyNotFound {
        /// The name asked for.
        proxy: String,
    },
    /// The proxy has no toxic of this name.
    #[error("toxic not found")]
    ToxicNotFound {
        /// The proxy.
        proxy: String,
        /// The name asked for.
        toxic: String,
    },
    /// A proxy of this name exists already.
    #[error("proxy already exists")]
    ProxyExists {
        /// The name.
        proxy: String,
    },
    /// The proxy has a toxic of this name already.
    #[error("toxic already exists")]
    ToxicExists {
        /// The proxy.
        proxy: String,
        /// The toxic's name.
        toxic: String,
    },
    /// A proxy name that is empty, too long, or holds a control character or `/`.
    #[error("{reason}")]
    InvalidName {
        /// What is wrong, naming the name.
        reason: String,
    },
    /// A `listen` or `upstream` that is not `host:port`.
    #[error(
        "{field} {value:?} is not host:port; write it like 127.0.0.1:6379 (port 0 picks a free port for listen)"
    )]
    InvalidAddress {
        /// `listen` or `upstream`.
        field: &'static str,
        /// What was given.
        value: String,
    },
    /// The listen address is taken by another socket.
    #[error(
        "listen {listen}: the address is already in use; pick another port, or 0 for a free one"
    )]
    AddressInUse {
        /// The address.
        listen: String,
    },
    /// Listening failed for another reason (an address of no interface, a name that does not
    /// resolve, …).
    #[error("listen {listen}: {source}; write it like 127.0.0.1:6379")]
    Listen {
        /// The address.
        listen: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// An HTTP toxic (`http_error`, `http_delay`) on a proxy that does not parse HTTP.
    #[error("{toxic_type} needs an HTTP proxy: create the proxy with \"http\": true")]
    NeedsHttpProxy {
        /// The toxic's type.
        toxic_type: &'static str,
    },
    /// A byte-level toxic on a proxy that parses HTTP.
    #[error(
        "{toxic_type} acts on bytes, and this proxy parses HTTP: use http_delay or http_error here, or a proxy with \"http\": false"
    )]
    NeedsTcpProxy {
        /// The toxic's type.
        toxic_type: &'static str,
    },
    /// A toxic whose values are out of range (a toxicity outside 0–1, a negative time…).
    #[error("toxic {toxic}: {reason}")]
    InvalidToxic {
        /// The toxic's name.
        toxic: String,
        /// What is wrong.
        reason: String,
    },
    /// An update that would change a toxic's type (only attributes and toxicity change).
    #[error("toxic {toxic} is a {from} toxic: an update cannot make it a {to} one")]
    ToxicTypeChanged {
        /// The toxic's name.
        toxic: String,
        /// Its type.
        from: &'static str,
        /// The type the update asked for.
        to: &'static str,
    },
}
