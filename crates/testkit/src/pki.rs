//! Certificates for TLS tests: a CA, another CA and server certificates,
//! made at test time with `openssl`, and a certs.d tree trusting a CA.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::have;

/// A CA (`ca`), another one (`other-ca`) and server certificates the
/// first signed, made with `openssl` in a directory.
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// Make the two CAs in `dir`; `None` (skip) without `openssl`.
    pub fn new(dir: &Path) -> Option<Pki> {
        if !have("openssl") {
            eprintln!("skipping: openssl is not installed");
            return None;
        }
        let pki = Pki {
            dir: dir.to_path_buf(),
        };
        pki.ca("ca");
        pki.ca("other-ca");
        Some(pki)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.as_path().join(name)
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `NAME.crt`, `NAME.key`: a self-signed CA.
    pub fn ca(&self, name: &str) {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=berth test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ]);
    }

    /// `NAME.crt`, `NAME.key`: a server certificate for `san`
    /// (`IP:127.0.0.1`, `DNS:x`) signed by `ca`.
    pub fn server(&self, name: &str, ca: &str, san: &str) -> (PathBuf, PathBuf) {
        self.sign(
            name,
            ca,
            &format!("subjectAltName={san}\nextendedKeyUsage=serverAuth\n"),
        )
    }

    /// `NAME.crt`, `NAME.key`: a leaf certificate `ca` signed, with these
    /// extensions (openssl extfile lines).
    fn sign(&self, name: &str, ca: &str, ext: &str) -> (PathBuf, PathBuf) {
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN=berth test {name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ]);
        std::fs::write(
            self.path(&format!("{name}.ext")),
            format!("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n{ext}"),
        )
        .unwrap();
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.crt"),
        ]);
        (
            self.path(&format!("{name}.crt")),
            self.path(&format!("{name}.key")),
        )
    }

    /// `NAME.cert`, `NAME.key`: a client certificate `ca` signed (the
    /// names docker's certs.d gives a client certificate).
    pub fn client(&self, name: &str, ca: &str) -> (PathBuf, PathBuf) {
        let (crt, key) = self.sign(name, ca, "extendedKeyUsage=clientAuth\n");
        let cert = self.path(&format!("{name}.cert"));
        std::fs::rename(crt, &cert).unwrap();
        (cert, key)
    }

    /// A certs.d tree trusting `ca` for `host`.
    pub fn certs_d(&self, host: &str, ca: &str) -> PathBuf {
        let root = self.path(&format!("certs.d-{ca}"));
        std::fs::create_dir_all(root.join(host)).unwrap();
        std::fs::copy(
            self.path(&format!("{ca}.crt")),
            root.join(host).join("ca.crt"),
        )
        .unwrap();
        root
    }
}
