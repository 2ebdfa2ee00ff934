//! Pull and push over HTTPS against Debian's `docker-registry` serving a
//! certificate from a CA made at test time with `openssl`: the CA given
//! through a certs.d directory (docker's and podman's
//! `certs.d/HOST:PORT/ca.crt`), refusal of an unknown CA or a certificate
//! for another name, `--tls-verify=false` only when asked.

mod common;

use std::path::Path;

use berth_testkit::pki::Pki;
use common::*;
use image::Platform;
use registry::{ClientConfig, Error, NoProgress, PushOptions};

fn tls_registry(pki: &Pki, san: &str) -> Option<DockerRegistry> {
    let (cert, key) = pki.server(&format!("srv-{}", san.replace([':', '.'], "-")), "ca", san);
    DockerRegistry::start_with(None, Some((cert.as_path(), key.as_path())), None)
}

fn client_trusting(certs_d: &Path) -> registry::Client {
    client_with(ClientConfig {
        certs_dirs: vec![certs_d.to_path_buf()],
        ..Default::default()
    })
}

#[test]
fn push_and_pull_over_https_with_the_ca_from_certs_d() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pki) = Pki::new(dir.path()) else {
        return;
    };
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
    let dir = tempfile::tempdir().unwrap();
    let Some(pki) = Pki::new(dir.path()) else {
        return;
    };
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

/// A registry that wants a client certificate gets the one in its
/// certs.d directory (`client.cert` + `client.key`, as docker reads
/// them); without it the handshake is refused.
#[test]
fn client_certificate_from_certs_d() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pki) = Pki::new(dir.path()) else {
        return;
    };
    let (cert, key) = pki.server("srv", "ca", "IP:127.0.0.1");
    let Some(reg) =
        DockerRegistry::start_with(None, Some((&cert, &key)), Some(&pki.path("ca.crt")))
    else {
        return;
    };
    let certs_d = pki.certs_d(&reg.addr, "ca");
    let img = ImageBlobs::build(&[file_tar("etc/hello", b"mtls")], "amd64");
    let (_d, src) = new_store();
    img.store_in(&src, "local/img:1");
    let dest = reg.reference("mtls/img:1");
    // No client certificate: refused.
    let err = client_trusting(&certs_d)
        .push(
            &src,
            "local/img:1",
            &dest,
            &PushOptions::default(),
            &NoProgress,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Refused { .. }), "{msg}");
    assert!(
        msg.contains("client certificate") && !msg.contains('\n'),
        "{msg}"
    );
    // With client.cert/client.key beside ca.crt: pushed and pulled.
    let (ccert, ckey) = pki.client("client", "ca");
    let host_dir = certs_d.join(&reg.addr);
    std::fs::copy(&ccert, host_dir.join("client.cert")).unwrap();
    std::fs::copy(&ckey, host_dir.join("client.key")).unwrap();
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
}
