//! HTTPS for tests: certificates made with rcgen (a CA and the servers it signs, or a
//! self-signed one) and axum apps served over rustls on port 0.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A certificate and its key, as PEM.
pub struct Pem {
    pub cert: String,
    pub key: String,
}

impl Pem {
    /// A rustls server configuration serving this certificate (and the CA's above it, if
    /// `chain` has it).
    pub fn server_config(&self, chain: &[&str]) -> Arc<rustls::ServerConfig> {
        let certs: Vec<CertificateDer<'static>> = std::iter::once(self.cert.as_str())
            .chain(chain.iter().copied())
            .map(|pem| {
                rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
                    .expect("a PEM certificate")
            })
            .collect();
        let key: PrivatePkcs8KeyDer<'static> =
            rustls::pki_types::pem::PemObject::from_pem_slice(self.key.as_bytes())
                .expect("a PEM key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, PrivateKeyDer::Pkcs8(key))
            .expect("a server certificate");
        Arc::new(config)
    }

    /// Writes the certificate and the key into `dir` as `NAME.crt` and `NAME.key`; returns
    /// their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (String, String) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert).unwrap();
        std::fs::write(&key, &self.key).unwrap();
        (cert.display().to_string(), key.display().to_string())
    }
}

/// A private CA, such as a company runs for its internal endpoints.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    /// The CA's certificate, as PEM: what a `ca_file` holds.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names` (`127.0.0.1` is an IP address SAN), signed by the CA.
    pub fn server(&self, names: &[&str]) -> Pem {
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A self-signed server certificate for `names`.
pub fn self_signed(names: &[&str]) -> Pem {
    let certified =
        rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    Pem {
        cert: certified.cert.pem(),
        key: certified.signing_key.serialize_pem(),
    }
}

/// A listener that hands axum only connections whose TLS handshake succeeded.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, peer)) = self.tcp.accept().await else {
                continue;
            };
            // A client that refuses the certificate ends its handshake: wait for the next.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// Serves `app` over TLS with `config` on a loopback port of its own.
pub async fn serve_https(app: axum::Router, config: Arc<rustls::ServerConfig>) -> SocketAddr {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(config),
    };
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
