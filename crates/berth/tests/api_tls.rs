//! `berth system service` on tcp:// with TLS, as docker's daemon:
//! `--tlsverify` (clients need a certificate of the CA) and `--tls`
//! (clients not checked), driven by the real docker CLI
//! (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) with certificates made by openssl
//! here; curl for the clients without a certificate.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::api::DOCKER;
use common::Env;

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA (`NAME-ca.pem`) and a certificate it signs (`NAME-cert.pem`,
/// `NAME-key.pem`) with `ext` (docker's documented extfile lines).
fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-keyout",
            &format!("{name}-ca-key.pem"),
            "-out",
            &format!("{name}-ca.pem"),
        ],
    );
}

fn signed(dir: &Path, ca: &str, name: &str, ext: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}-key.pem"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}-ca.pem"),
            "-CAkey",
            &format!("{ca}-ca-key.pem"),
            "-CAcreateserial",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}-cert.pem"),
        ],
    );
}

/// docker's client layout: DIR/{ca,cert,key}.pem.
fn client_dir(dir: &Path, sub: &str, ca: &str, client: &str) -> PathBuf {
    let d = dir.join(sub);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(dir.join(format!("{ca}-ca.pem")), d.join("ca.pem")).unwrap();
    std::fs::copy(dir.join(format!("{client}-cert.pem")), d.join("cert.pem")).unwrap();
    std::fs::copy(dir.join(format!("{client}-key.pem")), d.join("key.pem")).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct TcpService {
    env: Env,
    addr: String,
    child: Child,
}

impl TcpService {
    fn start(env: Env, flags: &[&str]) -> TcpService {
        let addr = format!("127.0.0.1:{}", free_port());
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
        let ids = self.env.output(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.env.output(&["rm", "-f", id]);
        }
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

const SERVER_EXT: &str = "subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n";
const CLIENT_EXT: &str = "extendedKeyUsage = clientAuth\n";

fn have_tools() -> bool {
    if !Path::new(DOCKER).exists() {
        common::skip("/usr/local/bin/docker is not installed");
        return false;
    }
    berth_testkit::require("openssl") && berth_testkit::require("curl")
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
    let certs = env.path("certs");
    std::fs::create_dir_all(&certs).unwrap();
    ca(&certs, "good");
    ca(&certs, "evil");
    signed(&certs, "good", "server", SERVER_EXT);
    signed(&certs, "good", "client", CLIENT_EXT);
    signed(&certs, "evil", "intruder", CLIENT_EXT);
    let good = client_dir(&certs, "good-client", "good", "client");
    let intruder = client_dir(&certs, "intruder-client", "good", "intruder");
    let f = |n: &str| certs.join(n).display().to_string();
    let (cacert, cert, key) = (f("good-ca.pem"), f("server-cert.pem"), f("server-key.pem"));
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
    let o = s.curl(&[
        "--cacert",
        &cacert,
        "--cert",
        &f("client-cert.pem"),
        "--key",
        &f("client-key.pem"),
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
    let certs = env.path("certs");
    std::fs::create_dir_all(&certs).unwrap();
    ca(&certs, "good");
    signed(&certs, "good", "server", SERVER_EXT);
    let f = |n: &str| certs.join(n).display().to_string();
    let s = TcpService::start(
        env,
        &[
            "--tls",
            "--tlscert",
            &f("server-cert.pem"),
            "--tlskey",
            &f("server-key.pem"),
        ],
    );
    let o = s.curl(&["--cacert", &f("good-ca.pem")]);
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
