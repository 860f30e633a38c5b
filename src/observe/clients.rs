//! What probes share, built once: the TLS client configurations (bundled
//! roots, each custom CA, and no verification) and the ICMP sockets.
//!
//! A [`Clients`] belongs to the tokio runtime it is first used in: the
//! ICMP clients are opened lazily and keep a receive task on it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::spec::{CaSource, TlsVerify};

/// Shared clients for every probe. Cheap to share behind an `Arc`.
pub struct Clients {
    roots: Arc<ClientConfig>,
    insecure: Arc<ClientConfig>,
    custom: Mutex<HashMap<CaSource, Arc<ClientConfig>>>,
    icmp_v4: OnceLock<Result<surge_ping::Client, String>>,
    icmp_v6: OnceLock<Result<surge_ping::Client, String>>,
    /// ICMP identifiers and sequence numbers, unique among concurrent
    /// pings (with ping sockets the kernel owns the identifier, so the
    /// sequence number alone must tell replies apart).
    icmp_ident: AtomicU16,
    icmp_seq: AtomicU16,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cas = self.custom.lock().map(|c| c.len()).unwrap_or(0);
        f.debug_struct("Clients")
            .field("custom_cas", &cas)
            .field("icmp_v4", &self.icmp_v4.get().map(|c| c.is_ok()))
            .field("icmp_v6", &self.icmp_v6.get().map(|c| c.is_ok()))
            .finish_non_exhaustive()
    }
}

/// A custom CA that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("reading CA file {path}: {error}")]
    CaFile {
        path: std::path::PathBuf,
        error: rustls::pki_types::pem::Error,
    },
    #[error("CA PEM: {0}")]
    CaPem(rustls::pki_types::pem::Error),
    #[error("no certificate in the CA PEM")]
    NoCertificate,
    #[error("CA certificate rejected: {0}")]
    CaRejected(rustls::Error),
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
}

impl Default for Clients {
    fn default() -> Clients {
        Clients::new()
    }
}

impl Clients {
    pub fn new() -> Clients {
        let roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let roots = client_config(provider(), roots).expect("ring supports the default versions");
        let insecure = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
            .with_no_client_auth();
        Clients {
            roots: Arc::new(roots),
            insecure: Arc::new(with_alpn(insecure)),
            custom: Mutex::new(HashMap::new()),
            icmp_v4: OnceLock::new(),
            icmp_v6: OnceLock::new(),
            icmp_ident: AtomicU16::new(std::process::id() as u16),
            icmp_seq: AtomicU16::new(0),
        }
    }

    /// The TLS configuration for a verification mode; a custom CA is
    /// loaded on first use and kept.
    pub fn tls_config(&self, verify: &TlsVerify) -> Result<Arc<ClientConfig>, TlsSetupError> {
        match verify {
            TlsVerify::BundledRoots => Ok(self.roots.clone()),
            TlsVerify::Off => Ok(self.insecure.clone()),
            TlsVerify::CustomCa(source) => {
                if let Some(config) = self.custom.lock().expect("not poisoned").get(source) {
                    return Ok(config.clone());
                }
                let config = Arc::new(custom_ca_config(source)?);
                self.custom
                    .lock()
                    .expect("not poisoned")
                    .insert(source.clone(), config.clone());
                Ok(config)
            }
        }
    }

    /// The shared ICMP client for the target's family: a ping socket where
    /// `net.ipv4.ping_group_range` allows it, a raw socket otherwise
    /// (surge-ping tries them in that order).
    pub(super) fn icmp(&self, target: IpAddr) -> Result<&surge_ping::Client, String> {
        let (cell, kind) = match target {
            IpAddr::V4(_) => (&self.icmp_v4, surge_ping::ICMP::V4),
            IpAddr::V6(_) => (&self.icmp_v6, surge_ping::ICMP::V6),
        };
        cell.get_or_init(|| {
            let config = surge_ping::Config::builder()
                .kind(kind)
                .sock_type_hint(socket2::Type::DGRAM)
                .build();
            surge_ping::Client::new(&config).map_err(|e| first_line(&e.to_string()))
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    pub(super) fn next_icmp_ident(&self) -> u16 {
        self.icmp_ident.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn next_icmp_seq(&self) -> u16 {
        self.icmp_seq.fetch_add(1, Ordering::Relaxed)
    }
}

/// Checks that a custom CA loads, e.g. while validating configuration.
/// Returns how many certificates it holds.
pub fn check_ca(source: &CaSource) -> Result<usize, TlsSetupError> {
    ca_certificates(source).map(|certs| certs.len())
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn client_config(provider: Arc<CryptoProvider>, roots: RootCertStore) -> Result<ClientConfig, rustls::Error> {
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(with_alpn(config))
}

/// Probes speak HTTP/1.1 only (one connection per probe, no pooling).
fn with_alpn(mut config: ClientConfig) -> ClientConfig {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

fn custom_ca_config(source: &CaSource) -> Result<ClientConfig, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    for cert in ca_certificates(source)? {
        roots.add(cert).map_err(TlsSetupError::CaRejected)?;
    }
    client_config(provider(), roots).map_err(TlsSetupError::Config)
}

fn ca_certificates(source: &CaSource) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs: Vec<_> = match source {
        CaSource::File(path) => CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<_, _>>())
            .map_err(|error| TlsSetupError::CaFile {
                path: path.clone(),
                error,
            })?,
        CaSource::Pem(pem) => CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(TlsSetupError::CaPem)?,
    };
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificate);
    }
    Ok(certs)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// `verify = false`: accepts any certificate for any name, but still
/// checks the handshake signatures, so the peer holds the key of the
/// certificate it showed (whose expiry is then still reported).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
