//! TLS for `tcp://` as docker's daemon has it: `--tls` (the service's
//! certificate, clients not checked) and `--tlsverify` (clients must show a
//! certificate signed by `--tlscacert`). rustls with ring (already in the
//! build through the registry client), TLS 1.2 and 1.3.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;

/// The files of `--tlscacert`, `--tlscert`, `--tlskey` and whether
/// `--tlsverify` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Clients must present a certificate signed by `ca`.
    pub verify: bool,
}

/// A server's TLS settings, ready for the acceptor.
#[derive(Clone)]
pub struct TlsConfig(pub(crate) Arc<rustls::ServerConfig>);

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig")
    }
}

fn invalid(flag: &str, path: &Path, why: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("invalid {flag} {}: {why}", path.display()))
}

fn certs(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let v = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(flag, path, e))?;
    if v.is_empty() {
        return Err(invalid(flag, path, "no PEM certificate in it"));
    }
    Ok(v)
}

impl TlsFiles {
    /// Loads the files: a missing or malformed one is an error naming its
    /// flag; `verify` without a CA is refused.
    pub fn load(&self) -> Result<TlsConfig, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certs("--tlscert", &self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| invalid("--tlskey", &self.key, e))?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| Error::Invalid(format!("TLS: {e}")))?;
        let builder = if self.verify {
            let ca = self.ca.as_deref().ok_or_else(|| {
                Error::Invalid(
                    "--tlsverify needs --tlscacert: the CA that signs the clients' certificates"
                        .to_string(),
                )
            })?;
            let mut roots = rustls::RootCertStore::empty();
            for c in certs("--tlscacert", ca)? {
                roots.add(c).map_err(|e| invalid("--tlscacert", ca, e))?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| invalid("--tlscacert", ca, e))?;
            builder.with_client_cert_verifier(v)
        } else {
            builder.with_no_client_auth()
        };
        let cfg = builder.with_single_cert(chain, key).map_err(|e| {
            invalid(
                "--tlskey",
                &self.key,
                format!("does not match --tlscert: {e}"),
            )
        })?;
        Ok(TlsConfig(Arc::new(cfg)))
    }
}
