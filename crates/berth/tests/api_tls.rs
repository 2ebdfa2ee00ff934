//! `berth system service` on tcp:// with TLS, as docker's daemon:
//! `--tlsverify` (clients need a certificate of the CA) and `--tls`
//! (clients not checked), driven by the real docker CLI
//! (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) with certificates made by openssl
//! (berth_testkit::pki); curl for the clients without a certificate.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_testkit::pki::Pki;
use common::api::DOCKER;
use common::Env;

/// docker's client layout: DIR/{ca,cert,key}.pem, trusting `ca`, with
/// the client certificate `client` (made by `ca_of_client`).
fn client_dir(pki: &Pki, name: &str, ca_of_client: &str) -> PathBuf {
    let (cert, key) = pki.client(name, ca_of_client);
    let d = pki.path(&format!("{name}-docker"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(pki.path("ca.crt"), d.join("ca.pem")).unwrap();
    std::fs::copy(cert, d.join("cert.pem")).unwrap();
    std::fs::copy(key, d.join("key.pem")).unwrap();
    d
}

/// The service's files: the CA, its certificate and key (for 127.0.0.1).
fn server_files(pki: &Pki) -> (String, String, String) {
    let (cert, key) = pki.server("server", "ca", "IP:127.0.0.1");
    let s = |p: PathBuf| p.display().to_string();
    (s(pki.path("ca.crt")), s(cert), s(key))
}

struct TcpService {
    env: Env,
    addr: String,
    child: Child,
}

impl TcpService {
    fn start(env: Env, flags: &[&str]) -> TcpService {
        let addr = format!("127.0.0.1:{}", berth_testkit::free_port());
        let uri = format!("tcp://{addr}");
        let mut args = vec!["system", "service", "--time", "0"];
        args.extend_from_slice(flags);
        args.push(&uri);
        let child = env
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start berth system service");
        let mut s = TcpService { env, addr, child };
        let t = Instant::now();
        while std::net::TcpStream::connect(&s.addr).is_err() {
            if let Some(st) = s.child.try_wait().unwrap() {
                panic!("the service exited: {st:?}");
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "the service did not come up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn docker(&self, cert_dir: Option<&Path>, args: &[&str]) -> Output {
        let mut c = Command::new(DOCKER);
        c.args(args)
            .env("DOCKER_HOST", format!("tcp://{}", self.addr))
            .env("DOCKER_CONFIG", self.env.path("docker-config"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_TLS")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .stdin(Stdio::null());
        if let Some(d) = cert_dir {
            c.env("DOCKER_TLS_VERIFY", "1").env("DOCKER_CERT_PATH", d);
        }
        c.output().expect("run docker")
    }

    fn curl(&self, args: &[&str]) -> Output {
        Command::new("curl")
            .args(["-sS", "--max-time", "20"])
            .args(args)
            .arg(format!("https://{}/_ping", self.addr))
            .output()
            .expect("run curl")
    }
}

impl Drop for TcpService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn have_tools() -> bool {
    if !Path::new(DOCKER).exists() {
        common::skip("/usr/local/bin/docker is not installed");
        return false;
    }
    berth_testkit::require("curl")
}

/// `--tlsverify`: the docker CLI with a certificate of the CA runs
/// `version` and `run --rm` (attach over TLS, stdin half-closed); a
/// client without a certificate, or with one of another CA, is refused.
#[test]
fn docker_cli_over_tlsverify() {
    if !have_tools() {
        return;
    }
    let env = Env::new();
    std::fs::create_dir_all(env.path("pki")).unwrap();
    let Some(pki) = Pki::new(&env.path("pki")) else {
        return;
    };
    let (cacert, cert, key) = server_files(&pki);
    let good = client_dir(&pki, "client", "ca");
    let intruder = client_dir(&pki, "intruder", "other-ca");
    let s = TcpService::start(
        env,
        &[
            "--tlsverify",
            "--tlscacert",
            &cacert,
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
        ],
    );

    let v = ok(
        &s.docker(
            Some(&good),
            &["version", "--format", "{{.Server.APIVersion}}"],
        ),
        "docker version",
    );
    assert_eq!(v.trim(), "1.50");

    // Refused: no certificate (curl trusts the server but shows none), a
    // certificate of another CA, plain HTTP.
    let o = s.curl(&["--cacert", &cacert]);
    assert!(!o.status.success(), "a client without a certificate got in");
    let (gc, gk) = (good.join("cert.pem"), good.join("key.pem"));
    let o = s.curl(&[
        "--cacert",
        &cacert,
        "--cert",
        gc.to_str().unwrap(),
        "--key",
        gk.to_str().unwrap(),
    ]);
    assert_eq!(ok(&o, "curl with the client certificate"), "OK");
    let o = s.docker(Some(&intruder), &["version"]);
    assert!(!o.status.success(), "another CA's client got in");
    let o = s.docker(None, &["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(!o.status.success(), "a plain HTTP client got in");

    if !berth_testkit::require_root("containers") {
        return;
    }
    s.env.import_busybox("bb", &[]);
    let out = ok(
        &s.docker(Some(&good), &["run", "--rm", "bb", "echo", "over tls"]),
        "docker run --rm",
    );
    assert_eq!(out, "over tls\n");
    // stdin through the hijacked TLS connection, its end closing the
    // container's stdin.
    let mut c = Command::new(DOCKER);
    c.args(["run", "--rm", "-i", "bb", "cat"])
        .env("DOCKER_HOST", format!("tcp://{}", s.addr))
        .env("DOCKER_CONFIG", s.env.path("docker-config"))
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &good)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        let mut i = child.stdin.take().unwrap();
        i.write_all(b"piped through tls\n").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(ok(&o, "docker run -i cat"), "piped through tls\n");
    let ps = ok(&s.docker(Some(&good), &["ps", "-a", "-q"]), "docker ps");
    assert!(ps.trim().is_empty(), "{ps}");
}

/// `--tls`: served over TLS, clients not asked for a certificate.
#[test]
fn tls_without_client_verification() {
    if !have_tools() {
        return;
    }
    let env = Env::new();
    std::fs::create_dir_all(env.path("pki")).unwrap();
    let Some(pki) = Pki::new(&env.path("pki")) else {
        return;
    };
    let (cacert, cert, key) = server_files(&pki);
    let s = TcpService::start(env, &["--tls", "--tlscert", &cert, "--tlskey", &key]);
    let o = s.curl(&["--cacert", &cacert]);
    assert_eq!(ok(&o, "curl over --tls"), "OK");
}

/// Bad flag sets and addresses are refused with one clear line.
#[test]
fn tls_flags_and_addresses_refused() {
    let env = Env::new();
    let err = |args: &[&str]| {
        let o = env.output(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = err(&["system", "service", "tcp://0.0.0.0:1"]);
    assert!(
        e.contains("without TLS") && e.contains("--tlsverify"),
        "{e}"
    );
    let e = err(&["system", "service", "--tlsverify", "tcp://0.0.0.0:1"]);
    assert!(e.contains("--tlscert is required"), "{e}");
    let missing = env.path("missing.pem");
    let m = missing.to_str().unwrap();
    let e = err(&[
        "system",
        "service",
        "--tls",
        "--tlscert",
        m,
        "--tlskey",
        m,
        "tcp://127.0.0.1:1",
    ]);
    assert!(e.contains("invalid --tlscert") && e.contains(m), "{e}");
    let e = err(&["system", "service", "--tlscert", m, "tcp://127.0.0.1:1"]);
    assert!(e.contains("need --tls or --tlsverify"), "{e}");
}

/// `--tls` without `--tlsverify` lets any client in: refused on a
/// non-loopback address (before the certificates are read), naming
/// `--tlsverify`.
#[test]
fn tls_without_tlsverify_refused_off_loopback() {
    let env = Env::new();
    let m = env.path("missing.pem");
    let m = m.to_str().unwrap();
    for addr in ["tcp://0.0.0.0:1", "tcp://[::]:1", "tcp://192.0.2.1:1"] {
        let o = env.output(&[
            "system",
            "service",
            "--tls",
            "--tlscert",
            m,
            "--tlskey",
            m,
            addr,
        ]);
        assert!(!o.status.success(), "{addr} served");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.contains("without --tlsverify") && e.contains(addr),
            "{addr}: {e}"
        );
    }
}
