//! Pull and push over HTTPS against Debian's `docker-registry` serving a
//! certificate from a CA made at test time with `openssl`: the CA given
//! through a certs.d directory (docker's and podman's
//! `certs.d/HOST:PORT/ca.crt`), refusal of an unknown CA or a certificate
//! for another name, `--tls-verify=false` only when asked.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use image::Platform;
use registry::{ClientConfig, Error, NoProgress, PushOptions};

/// A CA and certificates it signed, in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Option<Pki> {
        if !have("openssl") {
            eprintln!("skipping: openssl is not installed");
            return None;
        }
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
        };
        pki.ca("ca");
        pki.ca("other-ca");
        Some(pki)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn openssl(&self, args: &[&str]) {
        run(Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path()));
    }

    /// `NAME.crt`, `NAME.key`: a self-signed CA.
    fn ca(&self, name: &str) {
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
    fn server(&self, name: &str, ca: &str, san: &str) -> (PathBuf, PathBuf) {
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=berth test registry",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ]);
        std::fs::write(
            self.path(&format!("{name}.ext")),
            format!(
                "subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
            ),
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

    /// A certs.d tree trusting `ca` for `host`.
    fn certs_d(&self, host: &str, ca: &str) -> PathBuf {
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

fn tls_registry(pki: &Pki, san: &str) -> Option<DockerRegistry> {
    let (cert, key) = pki.server(&format!("srv-{}", san.replace([':', '.'], "-")), "ca", san);
    DockerRegistry::start_with(None, Some((cert.as_path(), key.as_path())))
}

fn client_trusting(certs_d: &Path) -> registry::Client {
    client_with(ClientConfig {
        certs_dirs: vec![certs_d.to_path_buf()],
        ..Default::default()
    })
}

#[test]
fn push_and_pull_over_https_with_the_ca_from_certs_d() {
    let Some(pki) = Pki::new() else { return };
    let Some(reg) = tls_registry(&pki, "IP:127.0.0.1") else {
        return;
    };
    let certs_d = pki.certs_d(&reg.addr, "ca");
    let img = ImageBlobs::build(&[file_tar("etc/hello", b"over tls")], "amd64");
    let (_d, src) = new_store();
    img.store_in(&src, "local/img:1");
    let dest = reg.reference("tls/img:1");
    let c = client_trusting(&certs_d);
    c.push(
        &src,
        "local/img:1",
        &dest,
        &PushOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let (_d2, store) = new_store();
    let rec = c
        .pull(&store, &dest, &Platform::default(), &NoProgress)
        .unwrap();
    assert_eq!(rec.id, img.config_digest);
    let lowers = store.prepare_rootfs(&rec).unwrap();
    assert_eq!(
        std::fs::read(rootfs_file(&lowers, "etc/hello").unwrap()).unwrap(),
        b"over tls"
    );

    // Another CA in certs.d: refused, one clear line, nothing stored.
    let other = pki.certs_d(&reg.addr, "other-ca");
    let (_d3, s3) = new_store();
    let err = client_trusting(&other)
        .pull(&s3, &dest, &Platform::default(), &NoProgress)
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Refused { .. }), "{msg}");
    assert!(
        msg.contains("unknown authority") && msg.contains(&reg.addr),
        "{msg}"
    );
    assert!(msg.contains("ca.crt") && !msg.contains('\n'), "{msg}");
    assert_eq!(store_state(&s3), (vec![], vec![], 0, 0));

    // No certs.d: a loopback registry is spoken to in plain HTTP, which
    // this one refuses.
    let err = client_trusting(&pki.path("nowhere"))
        .pull(&s3, &dest, &Platform::default(), &NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("HTTP 400"), "{err}");
    assert_eq!(store_state(&s3), (vec![], vec![], 0, 0));

    // --tls-verify=false: HTTPS without checking the certificate, only
    // when asked.
    let rec = client_with(ClientConfig {
        tls_verify: false,
        certs_dirs: vec![other],
        ..Default::default()
    })
    .pull(&s3, &dest, &Platform::default(), &NoProgress)
    .unwrap();
    assert_eq!(rec.id, img.config_digest);
}

#[test]
fn certificate_for_another_name_is_refused() {
    let Some(pki) = Pki::new() else { return };
    let Some(reg) = tls_registry(&pki, "DNS:registry.invalid") else {
        return;
    };
    let certs_d = pki.certs_d(&reg.addr, "ca");
    let (_d, store) = new_store();
    let err = client_trusting(&certs_d)
        .pull(
            &store,
            &reg.reference("tls/img:1"),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Refused { .. }), "{msg}");
    assert!(
        msg.contains("not valid for name") && msg.contains("127.0.0.1"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
    assert_eq!(store_state(&store), (vec![], vec![], 0, 0));
    // Also on push.
    let img = ImageBlobs::build(&[file_tar("x", b"x")], "amd64");
    img.store_in(&store, "local/img:1");
    let err = client_trusting(&certs_d)
        .push(
            &store,
            "local/img:1",
            &reg.reference("tls/img:1"),
            &PushOptions::default(),
            &NoProgress,
        )
        .unwrap_err();
    assert!(err.to_string().contains("not valid for name"), "{err}");
}
