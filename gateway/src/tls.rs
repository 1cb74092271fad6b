//! HTTPS served by the gateway itself, for deployments without a TLS-ending load balancer.
//!
//! `start --tls-cert <PEM chain> --tls-key <PEM key>` (or `ENKRYPT_TLS_CERT` /
//! `ENKRYPT_TLS_KEY`). The files are read at start (a bad pair stops `start` with the reason)
//! and watched: when either changes (a renewed certificate), the new pair is loaded for new
//! connections; one that fails to load is logged and the previous pair kept, so a renewal
//! written in two steps never takes the gateway down. rustls with the ring provider, TLS 1.2 and
//! 1.3, ALPN `http/1.1`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How often the files are checked for a change.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// A certificate and key pair that follows its files.
#[derive(Debug)]
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(Arc<ServerConfig>, Stamp)>,
}

/// What the files looked like when last loaded (modification times and sizes).
type Stamp = [(Option<SystemTime>, u64); 2];

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let one = |p: &Path| match std::fs::metadata(p) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    };
    [one(cert), one(key)]
}

/// Loads a PEM certificate chain and private key into a server configuration.
pub fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("reading the certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("reading the certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("reading the private key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            format!(
                "the certificate {} and key {} do not form a pair: {e}",
                cert.display(),
                key.display()
            )
        })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

impl Tls {
    /// Loads the pair now; fails with a readable reason.
    pub fn new(cert: &Path, key: &Path) -> Result<Arc<Tls>, String> {
        let st = stamp(cert, key);
        let cfg = load(cert, key)?;
        Ok(Arc::new(Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new((cfg, st)),
        }))
    }

    /// The acceptor for a new connection, with the pair loaded last.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.read().0.clone())
    }

    /// Reloads the pair if its files changed; returns whether a new pair is in use.
    pub fn refresh(&self) -> bool {
        let st = stamp(&self.cert, &self.key);
        if self.current.read().1 == st {
            return false;
        }
        match load(&self.cert, &self.key) {
            Ok(cfg) => {
                *self.current.write() = (cfg, st);
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                true
            }
            Err(e) => {
                // Keep serving with the previous pair; try again at the next change.
                self.current.write().1 = st;
                tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays in use");
                false
            }
        }
    }

    /// Checks the files every few seconds until the task is aborted.
    pub fn watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(CHECK_EVERY).await;
                me.refresh();
            }
        })
    }
}
