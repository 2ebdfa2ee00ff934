//! Berth's registry client: the Distribution API v2 (OCI distribution),
//! pulling into and pushing from the image store of `berth-image`.
//!
//! * HTTP/1.1 over a small synchronous stack (ureq + rustls, system CA
//!   bundle, else Mozilla's roots, plus a registry's own CAs from its
//!   certs.d directory: [`tls`]); std threads transfer layers in
//!   parallel. Loopback registries without a certs.d directory use plain
//!   HTTP; others HTTPS unless configured insecure.
//! * Bearer-token and basic authentication, credentials from docker /
//!   podman auth files ([`auth`]).
//! * Pull verifies every manifest, config and layer digest, downloads
//!   layers in parallel and unpacks each while it downloads; a failed pull
//!   leaves the store as it was. Push uploads only missing blobs.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use registry::{Client, ClientConfig, NoProgress};
//! let store = image::Store::open("/var/lib/berth")?;
//! let client = Client::new(ClientConfig::default())?;
//! let r = image::Reference::parse("127.0.0.1:5000/test/bb:1")?;
//! let rec = client.pull(&store, &r, &image::Platform::default(), &NoProgress)?;
//! println!("{}", rec.id);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod error;
pub mod progress;
pub mod pull;
pub mod push;
pub mod regconf;
pub mod service;
pub mod tls;

use std::path::{Path, PathBuf};

pub use auth::{default_auth_file, Credentials};
pub use client::{Client, ClientConfig};
pub use error::{Error, Result};
pub use progress::{LayerState, NoProgress, Progress};
pub use pull::FetchedManifest;
pub use push::{BlobPush, PushOptions};
pub use service::{PullReport, PushReport, RegistryOptions};

use client::{ok, Method, Req, Scope, Target};

impl Client {
    /// Check `creds` against `host` (`GET /v2/`, answering its challenge)
    /// and, if accepted, store them in `authfile` (default:
    /// [`default_auth_file`]). Returns the file written.
    pub fn login(
        &self,
        host: &str,
        creds: &Credentials,
        authfile: Option<&Path>,
    ) -> Result<PathBuf> {
        self.set_credentials(host, Some(creds.clone()));
        let t = Target::new(host, "", Scope::none());
        let resp = self.send(&t, &Req::new(Method::Get, "/v2/", "login"));
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                self.set_credentials(host, None);
                return Err(e);
            }
        };
        if !ok(&resp) {
            let st = resp.status().as_u16();
            let err = if st == 401 || st == 403 {
                Error::Auth {
                    registry: host.to_string(),
                    reason: format!(
                        "login as {:?} rejected (HTTP {st}): invalid username or password",
                        creds.username
                    ),
                }
            } else {
                self.status_error(&t, "login", resp)
            };
            self.set_credentials(host, None);
            return Err(err);
        }
        let path = authfile
            .map(Path::to_path_buf)
            .or_else(|| self.cfg.auth_file.clone())
            .unwrap_or_else(default_auth_file);
        auth::store_credentials(&path, host, creds)?;
        Ok(path)
    }
}

/// Verify and store credentials for `host` (see [`Client::login`]) with a
/// default client.
pub fn login(host: &str, user: &str, pass: &str, authfile: Option<&Path>) -> Result<PathBuf> {
    let client = Client::new(ClientConfig {
        auth_file: authfile.map(Path::to_path_buf),
        ..Default::default()
    })?;
    client.login(host, &Credentials::new(user, pass), authfile)
}

/// Remove stored credentials for `host` from `authfile` (default:
/// [`default_auth_file`]); `Ok(false)` if there were none.
pub fn logout(host: &str, authfile: Option<&Path>) -> Result<bool> {
    let path = authfile
        .map(Path::to_path_buf)
        .unwrap_or_else(default_auth_file);
    auth::remove_credentials(&path, host)
}

/// Pull with a default client (see [`Client::pull`]).
pub fn pull(
    store: &image::Store,
    reference: &image::Reference,
    platform: &image::Platform,
    progress: &dyn Progress,
) -> Result<image::ImageRecord> {
    Client::new(ClientConfig::default())?.pull(store, reference, platform, progress)
}

/// Push with a default client (see [`Client::push`]).
pub fn push(
    store: &image::Store,
    local: &str,
    dest: &image::Reference,
    progress: &dyn Progress,
) -> Result<image::Digest> {
    Client::new(ClientConfig::default())?.push(
        store,
        local,
        dest,
        &PushOptions::default(),
        progress,
    )
}
