//! `berth build`'s RUN mounts (secret, ssh, bind and cache `from=`, rw
//! binds), COPY/ADD `--exclude` and `--parents`, ONBUILD triggers, and the
//! refusals of the copy path, checked on the image's config and flattened
//! filesystem (buildah 1.28 has none of `--exclude`, `--parents`, secrets
//! `env=`). Needs root (overlay mounts, namespaces).

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use common::Env;
use serde_json::Value;

const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "true", "false", "mkdir", "rm", "ln", "chmod", "touch", "test",
    "wc", "env",
];
const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
const GROUP: &[u8] = b"root:x:0:\napp:x:1000:\nstaff:x:50:\n";

struct Ctx {
    env: Env,
}

impl Ctx {
    fn new() -> Option<Ctx> {
        if !berth_testkit::require_root("berth build runs containers") {
            return None;
        }
        let env = Env::new();
        let p = env.path("busybox.tar");
        std::fs::write(
            &p,
            berth_testkit::busybox_tar_with(
                &["bin/", "etc/", "tmp/"],
                APPLETS,
                &[("etc/passwd", PASSWD), ("etc/group", GROUP)],
            ),
        )
        .unwrap();
        env.ok(&["import", p.to_str().unwrap(), "busybox"]);
        Some(Ctx { env })
    }

    fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let d = self.env.path(name);
        for (p, data) in files {
            let p = d.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
        d
    }

    /// `build ARGS` with `envs` set; (code, stdout, stderr).
    fn build_env(&self, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
        let mut a = vec!["build"];
        a.extend_from_slice(args);
        let mut c = self.env.cmd(&a);
        for (k, v) in envs {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn build_ok(&self, args: &[&str]) -> String {
        let mut a = vec!["-q"];
        a.extend_from_slice(args);
        let (code, out, err) = self.build_env(&a, &[]);
        assert_eq!(code, 0, "{err}");
        out.trim().to_string()
    }

    fn config(&self, image: &str) -> Value {
        let id = self
            .env
            .ok(&["image", "inspect", "--format", "{{.Id}}", image])
            .trim()
            .to_string();
        let blob = self
            .env
            .root()
            .join("blobs/sha256")
            .join(id.trim_start_matches("sha256:"));
        serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap()
    }

    /// The flattened filesystem: path → (type, mode, uid, gid, content,
    /// mtime).
    fn files(&self, image: &str) -> Tree {
        let cid = self.env.ok(&["create", image, "true"]).trim().to_string();
        let out = self.env.output(&["export", &cid]);
        assert!(out.status.success());
        self.env.ok(&["rm", &cid]);
        let mut t = BTreeMap::new();
        let mut a = tar::Archive::new(&out.stdout[..]);
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let path = path
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string();
            let h = e.header().clone();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                _ => 'f',
            };
            let mut data = vec![];
            e.read_to_end(&mut data).unwrap();
            t.insert(
                path,
                (
                    kind,
                    h.mode().unwrap() & 0o7777,
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    data,
                    h.mtime().unwrap(),
                ),
            );
        }
        t
    }

    fn containers(&self) -> String {
        self.env.ok(&["ps", "-a", "-q"])
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let ids = self.env.output(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.env.output(&["rm", "-f", id]);
        }
    }
}

type Tree = BTreeMap<String, (char, u32, u64, u64, Vec<u8>, u64)>;

fn text(t: &Tree, p: &str) -> String {
    String::from_utf8_lossy(&t.get(p).unwrap_or_else(|| panic!("no {p}")).4).into_owned()
}

/// Every file under `dir` (gzip blobs decompressed) holds no `needle`.
fn assert_nowhere(dir: &Path, needle: &[u8]) {
    let contains = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
                continue;
            }
            if !ft.is_file() {
                continue;
            }
            let data = std::fs::read(e.path()).unwrap();
            assert!(
                !contains(&data),
                "{} holds the secret: {}",
                e.path().display(),
                String::from_utf8_lossy(&data)
            );
            if data.starts_with(&[0x1f, 0x8b]) {
                let mut out = vec![];
                if flate2::read::GzDecoder::new(&data[..])
                    .read_to_end(&mut out)
                    .is_ok()
                {
                    assert!(
                        !contains(&out),
                        "{} (gunzipped) holds the secret: {}",
                        e.path().display(),
                        String::from_utf8_lossy(&out)
                    );
                }
            }
        }
    }
}

#[test]
fn secrets_reach_the_step_only() {
    let Some(c) = Ctx::new() else { return };
    let d = c.context(
        "secretctx",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=secret,id=tok case \"$(cat /run/secrets/tok)\" in PFX-*) echo match;; esac > /m1 && ls -ln /run/secrets/tok > /perm1\n\
             RUN --mount=type=secret,id=tok,env=TOK,target=/s/t,mode=0440,uid=1000,gid=50 case \"$TOK\" in PFX-*) echo match;; esac > /m2 && ls -ln /s/t > /perm2\n\
             RUN --mount=type=secret,id=fromenv,env=FE case \"$FE\" in ENV-*) echo match;; esac > /m3 && test ! -e /run/secrets/fromenv\n\
             RUN --mount=type=secret,id=absent echo skipped > /skipped\n",
        )],
    );
    let sf = c.env.path("tok.txt");
    std::fs::write(&sf, "PFX-QzWvKx").unwrap();
    let ds = d.to_str().unwrap();
    let tok = format!("id=tok,src={}", sf.display());
    let args = [
        "--progress",
        "plain",
        "-t",
        "s1",
        "--secret",
        &tok,
        "--secret",
        "id=fromenv,env=BERTH_TEST_SECRET",
        ds,
    ];
    let (code, _, err) = c.build_env(&args, &[("BERTH_TEST_SECRET", "ENV-QyRtPm")]);
    assert_eq!(code, 0, "{err}");
    let t = c.files("s1");
    assert_eq!(text(&t, "m1"), "match\n");
    assert_eq!(text(&t, "m2"), "match\n");
    assert_eq!(text(&t, "m3"), "match\n");
    assert_eq!(text(&t, "skipped"), "skipped\n");
    // BuildKit's file: 0400 root by default, the mount's mode and owner.
    let p1 = text(&t, "perm1");
    let f1: Vec<&str> = p1.split_whitespace().collect();
    assert_eq!((f1[0], f1[2], f1[3]), ("-r--------", "0", "0"), "{p1}");
    let p2 = text(&t, "perm2");
    let f2: Vec<&str> = p2.split_whitespace().collect();
    assert_eq!((f2[0], f2[2], f2[3]), ("-r--r-----", "1000", "50"), "{p2}");
    // The mount points are no layer content.
    assert!(!t.contains_key("run"), "{:?}", t.keys().collect::<Vec<_>>());
    assert!(!t.contains_key("s"));
    // The value: in no layer, no config (history), nowhere in the store.
    let cfg = c.config("s1");
    let hist = serde_json::to_string(&cfg["history"]).unwrap();
    assert!(
        !hist.contains("QzWvKx") && !hist.contains("QyRtPm"),
        "{hist}"
    );
    assert_nowhere(&c.env.root(), b"QzWvKx");
    assert_nowhere(&c.env.root(), b"QyRtPm");
    // Nor in the cache keys: another value keeps every step cached.
    std::fs::write(&sf, "PFX-other9").unwrap();
    let mut args2 = args;
    args2[3] = "s2";
    let (code, _, err) = c.build_env(&args2, &[("BERTH_TEST_SECRET", "ENV-other")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("CACHED").count(), 4, "{err}");
    assert_eq!(c.config("s1"), c.config("s2"));
    // A required secret that is missing fails naming it.
    std::fs::write(
        d.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=secret,id=need,required true\n",
    )
    .unwrap();
    let (code, _, err) = c.build_env(&[ds], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("secret need: not found"), "{err}");
    // A bad --secret is named.
    let (code, _, err) = c.build_env(&["--secret", "src=/x", ds], &[]);
    assert_eq!(code, 125);
    assert!(err.contains("--secret") && err.contains("ID"), "{err}");
    assert_eq!(c.containers(), "");
}

/// An ssh-agent of the test's own, killed at the end.
struct Agent {
    pid: String,
    sock: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Option<Agent> {
        if !berth_testkit::require("ssh-agent") || !berth_testkit::require("ssh-keygen") {
            return None;
        }
        let sock = dir.join("agent.sock");
        let o = std::process::Command::new("ssh-agent")
            .arg("-a")
            .arg(&sock)
            .arg("-s")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        let pid = out
            .split(';')
            .find_map(|f| f.trim().strip_prefix("SSH_AGENT_PID="))
            .unwrap()
            .to_string();
        Some(Agent { pid, sock })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg(&self.pid).status();
    }
}

#[test]
fn ssh_mount_forwards_the_agent_socket() {
    let Some(c) = Ctx::new() else { return };
    let Some(agent) = Agent::start(&c.env.path("")) else {
        return;
    };
    let d = c.context(
        "sshctx",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /sock && ls -ln \"$SSH_AUTH_SOCK\" > /perm1\n\
             RUN --mount=type=ssh,id=other,target=/agent.sock,mode=0660,uid=1000,gid=50 test -S /agent.sock && ls -ln /agent.sock > /perm2\n\
             RUN --mount=type=ssh,id=absent echo skipped > /skipped\n",
        )],
    );
    let ds = d.to_str().unwrap();
    let other = format!("other={}", agent.sock.display());
    let (code, _, err) = c.build_env(
        &["-t", "ssh1", "--ssh", "default", "--ssh", &other, ds],
        &[("SSH_AUTH_SOCK", agent.sock.to_str().unwrap())],
    );
    assert_eq!(code, 0, "{err}");
    let t = c.files("ssh1");
    assert_eq!(text(&t, "sock"), "/run/buildkit/ssh_agent.0\n");
    let p1 = text(&t, "perm1");
    assert!(p1.starts_with("srw-------"), "{p1}");
    let p2 = text(&t, "perm2");
    let f2: Vec<&str> = p2.split_whitespace().collect();
    assert_eq!((f2[0], f2[2], f2[3]), ("srw-rw----", "1000", "50"), "{p2}");
    assert_eq!(text(&t, "skipped"), "skipped\n");
    assert!(!t.contains_key("run") && !t.contains_key("agent.sock"));
    // A required agent that is not forwarded, a path that is no socket.
    std::fs::write(
        d.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=ssh,required true\n",
    )
    .unwrap();
    let (code, _, err) = c.build_env(&[ds], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("no SSH agent \"default\" forwarded"), "{err}");
    let key = format!("default={}", d.join("Dockerfile").display());
    let (code, _, err) = c.build_env(&["--ssh", &key, ds], &[]);
    assert_eq!(code, 125);
    assert!(err.contains("is not an agent socket"), "{err}");
    assert_eq!(c.containers(), "");
}

#[test]
fn bind_and_cache_mounts_from_stages_images_and_rw() {
    let Some(c) = Ctx::new() else { return };
    let d = c.context(
        "fromctx",
        &[
            (
                "Dockerfile",
                "FROM busybox AS src\nRUN mkdir /out && echo fromstage > /out/f\n\
                 FROM busybox\n\
                 RUN --mount=type=bind,from=src,source=/out,target=/m cat /m/f > /a\n\
                 RUN --mount=type=bind,from=busybox,source=/etc/group,target=/g.txt cat /g.txt > /b\n\
                 RUN --mount=type=bind,source=data,target=/d,rw echo changed > /d/in && cat /d/in > /c\n\
                 RUN --mount=type=bind,source=data,target=/d cat /d/in > /c2\n\
                 RUN --mount=type=cache,target=/cc,from=src,source=/out,id=seeded cat /cc/f > /e && echo more >> /cc/f\n",
            ),
            ("data/in", "original\n"),
        ],
    );
    let ds = d.to_str().unwrap();
    c.build_ok(&["-t", "fm1", ds]);
    let t = c.files("fm1");
    assert_eq!(text(&t, "a"), "fromstage\n");
    assert_eq!(text(&t, "b"), String::from_utf8_lossy(GROUP));
    assert_eq!(text(&t, "c"), "changed\n");
    // A rw bind's changes are discarded.
    assert_eq!(text(&t, "c2"), "original\n");
    assert_eq!(
        std::fs::read_to_string(d.join("data/in")).unwrap(),
        "original\n"
    );
    assert_eq!(text(&t, "e"), "fromstage\n");
    for p in ["m", "g.txt", "d", "cc"] {
        assert!(!t.contains_key(p), "{p} left in the image");
    }
    // The cache, seeded once, keeps what the step wrote.
    c.build_ok(&["--no-cache", "-t", "fm2", ds]);
    assert_eq!(text(&c.files("fm2"), "e"), "fromstage\nmore\n");
    // The stage a bind takes from changes: the step re-runs.
    let df = std::fs::read_to_string(d.join("Dockerfile"))
        .unwrap()
        .replace("echo fromstage", "echo changed-stage");
    std::fs::write(d.join("Dockerfile"), df).unwrap();
    c.build_ok(&["-t", "fm3", ds]);
    assert_eq!(text(&c.files("fm3"), "a"), "changed-stage\n");
    // A source missing from the stage is named.
    std::fs::write(
        d.join("Dockerfile"),
        "FROM busybox AS src\nFROM busybox\nRUN --mount=type=bind,from=src,source=/nope,target=/m true\n",
    )
    .unwrap();
    let (code, _, err) = c.build_env(&[ds], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("/nope"), "{err}");
    assert_eq!(c.containers(), "");
}

#[test]
fn onbuild_triggers_run_in_the_child_only() {
    let Some(c) = Ctx::new() else { return };
    let base = c.context(
        "onbase",
        &[(
            "Dockerfile",
            "FROM busybox\nONBUILD RUN echo trig > /trig\nONBUILD ENV FROM_TRIGGER=1\n",
        )],
    );
    c.build_ok(&["-t", "onb", base.to_str().unwrap()]);
    assert_eq!(
        c.config("onb")["config"]["OnBuild"],
        serde_json::json!(["RUN echo trig > /trig", "ENV FROM_TRIGGER=1"])
    );
    assert!(!c.files("onb").contains_key("trig"));
    let child = c.context(
        "onchild",
        &[("Dockerfile", "FROM onb\nRUN cat /trig > /seen\n")],
    );
    c.build_ok(&["-t", "onc", child.to_str().unwrap()]);
    let t = c.files("onc");
    assert_eq!(text(&t, "seen"), "trig\n");
    let cfg = c.config("onc");
    assert_eq!(cfg["config"]["OnBuild"], Value::Null, "not inherited");
    assert!(cfg["config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("FROM_TRIGGER=1")));
    // The grandchild runs nothing of the base.
    let grand = c.context(
        "ongrand",
        &[("Dockerfile", "FROM onc\nRUN rm /trig && test ! -e /trig\n")],
    );
    c.build_ok(&["-t", "ong", grand.to_str().unwrap()]);
    assert!(!c.files("ong").contains_key("trig"));
}

#[test]
fn copy_exclude_parents_and_refusals() {
    let Some(c) = Ctx::new() else { return };
    let d = c.context(
        "copyopts",
        &[
            (
                "Dockerfile",
                "FROM busybox\n\
                 COPY --exclude=*.txt --exclude=sub/skip dir/ /ex/\n\
                 COPY --exclude=*.md hom* /h/\n\
                 COPY --parents a/b/c.txt x/./y/z.txt /par/\n",
            ),
            ("dir/keep.bin", "k"),
            ("dir/drop.txt", "d"),
            ("dir/sub/skip", "s"),
            ("dir/sub/keep", "k2"),
            ("dir/sub/deep.txt", "d2"),
            ("home1", "h"),
            ("home2.md", "m"),
            ("a/b/c.txt", "c"),
            ("a/b/other.txt", "o"),
            ("x/y/z.txt", "z"),
        ],
    );
    let ds = d.to_str().unwrap();
    c.build_ok(&["-t", "co", ds]);
    let t = c.files("co");
    let under = |p: &str| -> Vec<String> {
        t.keys()
            .filter(|k| k.starts_with(p))
            .cloned()
            .collect::<Vec<_>>()
    };
    // moby's pattern rules: `*.txt` is the top level's only.
    assert_eq!(
        under("ex/"),
        vec!["ex/keep.bin", "ex/sub", "ex/sub/deep.txt", "ex/sub/keep"]
    );
    assert_eq!(under("h/"), vec!["h/home1"]);
    assert_eq!(
        under("par/"),
        vec!["par/a", "par/a/b", "par/a/b/c.txt", "par/y", "par/y/z.txt"]
    );
    assert_eq!(text(&t, "par/y/z.txt"), "z");
    // --link: the layer does not depend on the base's files (the same
    // layer over two different bases).
    let last_layer = |img: &str| -> Value {
        c.config(img)["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone()
    };
    for (tag, df) in [
        ("l1", "FROM busybox\nCOPY --link a/b/c.txt /tmp/deep/\n"),
        (
            "l2",
            "FROM busybox\nRUN mkdir -p /tmp/deep && echo x > /tmp/deep/y\nCOPY --link a/b/c.txt /tmp/deep/\n",
        ),
    ] {
        std::fs::write(d.join("Dockerfile"), df).unwrap();
        let (code, _, err) = c.build_env(&["-t", tag, ds], &[("SOURCE_DATE_EPOCH", "1000")]);
        assert_eq!(code, 0, "{err}");
    }
    assert_eq!(last_layer("l1"), last_layer("l2"));
    let t = c.files("l2");
    assert_eq!(text(&t, "tmp/deep/c.txt"), "c");
    assert_eq!(text(&t, "tmp/deep/y"), "x\n");
    // A file over a directory of the image is refused, as BuildKit does.
    std::fs::create_dir_all(d.join("over")).unwrap();
    std::fs::write(d.join("over/tmp"), "f").unwrap();
    for (df, want) in [
        (
            "FROM busybox\nCOPY over/ /\n",
            "cannot replace to directory /tmp with file",
        ),
        (
            "FROM busybox\nADD --keep-git-dir=true over /x/\n",
            "--keep-git-dir",
        ),
        (
            "FROM busybox\nADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 over /x/\n",
            "checksum can't be specified for non-HTTP(S) sources",
        ),
    ] {
        std::fs::write(d.join("Dockerfile"), df).unwrap();
        let (code, _, err) = c.build_env(&[ds], &[]);
        assert_eq!(code, 1, "{df}");
        assert!(err.contains(want), "{df}: {err}");
    }
    assert_eq!(c.containers(), "");
}

/// `python3 -m http.server` on loopback, killed at the end.
struct Http {
    child: std::process::Child,
    port: u16,
}

impl Http {
    fn start(dir: &Path) -> Option<Http> {
        if !berth_testkit::require("python3") {
            return None;
        }
        let mut child = std::process::Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        // "Serving HTTP on 127.0.0.1 port N (http://…) ..."
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        Some(Http { child, port })
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_path(p).unwrap();
        h.set_mode(0o640);
        h.set_size(data.len() as u64);
        h.set_mtime(1234);
        h.set_cksum();
        b.append(&h, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

fn compress(tool: &str, data: &[u8]) -> Vec<u8> {
    let mut ch = std::process::Command::new(tool)
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = ch.stdin.take().unwrap();
    let data = data.to_vec();
    let w = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data).unwrap());
    let o = ch.wait_with_output().unwrap();
    w.join().unwrap();
    assert!(o.status.success());
    o.stdout
}

/// ADD of a local file that is compressed but holds no tar, or does not
/// decode, copies it as it is (BuildKit); a zstd tar is unpacked.
#[test]
fn add_compressed_non_tars_are_copied_as_they_are() {
    if !["xz", "bzip2", "zstd"]
        .iter()
        .all(|t| berth_testkit::require(t))
    {
        return;
    }
    let Some(c) = Ctx::new() else { return };
    let d = c.context("addc", &[("keep", "")]);
    let plain = b"not a tar\n".repeat(100);
    let junk = b"\x01\x02 this is no compressed stream at all".repeat(20);
    let with_magic = |m: &[u8]| [m, &junk[..]].concat();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("text.xz", compress("xz", &plain)),
        ("text.bz2", compress("bzip2", &plain)),
        ("text.zst", compress("zstd", &plain)),
        ("bad.xz", with_magic(&[0xfd, b'7', b'z', b'X', b'Z', 0])),
        ("bad.bz2", with_magic(b"BZh9")),
        ("bad.zst", with_magic(&[0x28, 0xb5, 0x2f, 0xfd])),
        ("bad.gz", with_magic(&[0x1f, 0x8b, 8, 0])),
    ];
    for (n, data) in &files {
        std::fs::write(d.join(n), data).unwrap();
    }
    let t = tar_of(&[("in/a.txt", "A")]);
    std::fs::write(d.join("pkg.tar.zst"), compress("zstd", &t)).unwrap();
    let mut df = String::from("FROM busybox\n");
    for (n, _) in &files {
        df.push_str(&format!("ADD {n} /c/\n"));
    }
    df.push_str("ADD pkg.tar.zst /zst/\n");
    std::fs::write(d.join("Dockerfile"), df).unwrap();
    c.build_ok(&["-t", "addc", d.to_str().unwrap()]);
    let got = c.files("addc");
    for (n, data) in &files {
        let f = got
            .get(&format!("c/{n}"))
            .unwrap_or_else(|| panic!("c/{n} not copied: {:?}", got.keys()));
        assert_eq!(&f.4, data, "{n}");
    }
    assert_eq!(text(&got, "zst/in/a.txt"), "A");
}

#[test]
fn add_urls_and_compressed_archives() {
    if !berth_testkit::require("bzip2") || !berth_testkit::require("xz") {
        return;
    }
    let Some(c) = Ctx::new() else { return };
    let www = c.env.path("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("file.txt"), "remote\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(www.join("file.txt"))
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000))
        .unwrap();
    let Some(http) = Http::start(&www) else {
        return;
    };
    let url = format!("http://127.0.0.1:{}/file.txt", http.port);
    // sha256 of "remote\n".
    let sum = {
        let o = std::process::Command::new("sha256sum")
            .arg(www.join("file.txt"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let d = c.context("addctx", &[("keep", "")]);
    let t = tar_of(&[("in/a.txt", "A"), ("b.txt", "B")]);
    std::fs::write(d.join("pkg.tar.bz2"), compress("bzip2", &t)).unwrap();
    std::fs::write(d.join("pkg.tar.xz"), compress("xz", &t)).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"not a tar\n").unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(d.join("plain.gz"), &gz).unwrap();
    std::fs::write(
        d.join("Dockerfile"),
        format!(
            "FROM busybox\n\
             ADD {url} /r/\n\
             ADD --checksum=sha256:{sum} {url} /r2\n\
             ADD --chmod=0644 --chown=1000:50 {url} /r3/named\n\
             ADD pkg.tar.bz2 /bz/\n\
             ADD pkg.tar.xz /xz/\n\
             ADD plain.gz /gz/\n"
        ),
    )
    .unwrap();
    let ds = d.to_str().unwrap();
    c.build_ok(&["-t", "add1", ds]);
    let t = c.files("add1");
    let f = &t["r/file.txt"];
    // BuildKit's http source: 0600, root, Last-Modified's time.
    assert_eq!((f.1, f.2, f.3, f.5), (0o600, 0, 0, 1_000_000_000));
    assert_eq!(text(&t, "r/file.txt"), "remote\n");
    assert_eq!(text(&t, "r2"), "remote\n");
    let f = &t["r3/named"];
    assert_eq!((f.1, f.2, f.3), (0o644, 1000, 50));
    for p in ["bz", "xz"] {
        assert_eq!(text(&t, &format!("{p}/in/a.txt")), "A");
        assert_eq!(text(&t, &format!("{p}/b.txt")), "B");
        assert_eq!(t[&format!("{p}/b.txt")].1, 0o640);
    }
    // A gzip that holds no tar is copied as it is, as docker does.
    assert_eq!(t["gz/plain.gz"].4, gz);
    // The URL's content is its step's cache key: unchanged, cached;
    // changed, fetched again.
    let (code, _, err) = c.build_env(&["--progress", "plain", "-t", "add2", ds], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("CACHED").count(), 6, "{err}");
    std::fs::write(www.join("file.txt"), "remote2\n").unwrap();
    std::fs::write(
        d.join("Dockerfile"),
        format!("FROM busybox\nADD {url} /r/\n"),
    )
    .unwrap();
    c.build_ok(&["-t", "add3", ds]);
    assert_eq!(text(&c.files("add3"), "r/file.txt"), "remote2\n");
    // A wrong checksum, a missing file, a git URL are named.
    let zero = "0".repeat(64);
    let missing = format!("http://127.0.0.1:{}/nope", http.port);
    for (df, want) in [
        (
            format!("FROM busybox\nADD --checksum=sha256:{zero} {url} /x\n"),
            "digest mismatch".to_string(),
        ),
        (
            format!("FROM busybox\nADD {missing} /x\n"),
            "invalid response status 404".to_string(),
        ),
        (
            "FROM busybox\nADD https://example.invalid/repo.git /x\n".to_string(),
            "ADD of a git repository".to_string(),
        ),
    ] {
        std::fs::write(d.join("Dockerfile"), &df).unwrap();
        let (code, _, err) = c.build_env(&[ds], &[]);
        assert_eq!(code, 1, "{df}");
        assert!(err.contains(&want), "{df}: {err}");
    }
    assert_eq!(c.containers(), "");
}

/// The mode and owner of host file `p` (None: missing).
fn host_mode(p: &str) -> Option<(u32, u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p)
        .ok()
        .map(|m| (m.mode() & 0o7777, m.uid(), m.gid()))
}

#[test]
fn bind_from_symlink_stays_in_the_image() {
    let Some(c) = Ctx::new() else { return };
    // A base whose sources are links out: absolute, to a file, relative.
    let base = c.context(
        "linky",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN echo in-image > /etc/marker && echo image-shadow > /etc/shadow && ln -s /etc /l && ln -s /etc/shadow /s \
             && ln -s ../../.. /d\n",
        )],
    );
    c.build_ok(&["-t", "linky", base.to_str().unwrap()]);
    let probe = "/etc/berth-bind-probe";
    let _ = std::fs::remove_file(probe);
    let shadow = host_mode("/etc/shadow");
    let etc = host_mode("/etc");
    let d = c.context(
        "linkuse",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=bind,from=linky,source=l,target=/m cat /m/marker > /bl\n\
             RUN --mount=type=bind,from=linky,source=l,target=/m,rw \
                 touch /m/berth-bind-probe && cat /m/marker > /blrw\n\
             RUN --mount=type=bind,from=linky,source=/d,target=/m cat /m/etc/marker > /bd\n\
             RUN --mount=type=cache,from=linky,source=l,target=/c,id=linkl \
                 touch /c/berth-bind-probe && cat /c/marker > /cl\n\
             RUN --mount=type=cache,from=linky,source=s,target=/c,id=links true\n\
             RUN --mount=type=cache,from=linky,source=d,target=/c,id=linkd cat /c/etc/marker > /cd\n",
        )],
    );
    let (code, _, err) = c.build_env(&["-t", "linkuse", d.to_str().unwrap()], &[]);
    // Put the host back before asserting (a build without the fix
    // changes it).
    let probe_made = std::path::Path::new(probe).exists();
    let _ = std::fs::remove_file(probe);
    let shadow_after = host_mode("/etc/shadow");
    let etc_after = host_mode("/etc");
    for (p, before) in [("/etc/shadow", shadow), ("/etc", etc)] {
        if let Some((m, u, g)) = before {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::os::unix::fs::chown(p, Some(u), Some(g));
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
        }
    }
    assert!(!probe_made, "a RUN wrote into the host's /etc");
    assert_eq!(
        shadow_after, shadow,
        "host /etc/shadow changed mode or owner"
    );
    assert_eq!(etc_after, etc, "host /etc changed mode or owner");
    // The build sees the links' in-image targets.
    assert_eq!(code, 0, "{err}");
    let t = c.files("linkuse");
    for f in ["bl", "blrw", "bd", "cl", "cd"] {
        assert_eq!(text(&t, f), "in-image\n", "{f}");
    }
    // The same from a base image's ONBUILD trigger.
    let ob = c.context(
        "linkonb",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             ONBUILD RUN --mount=type=bind,from=linky,source=l,target=/m,rw \
                 touch /m/berth-bind-probe && cat /m/marker > /ob\n",
        )],
    );
    c.build_ok(&["-t", "linkonb", ob.to_str().unwrap()]);
    let child = c.context("linkonc", &[("Dockerfile", "FROM linkonb\n")]);
    let (code, _, err) = c.build_env(&["-t", "linkonc", child.to_str().unwrap()], &[]);
    let probe_made = std::path::Path::new(probe).exists();
    let _ = std::fs::remove_file(probe);
    assert!(!probe_made, "an ONBUILD RUN wrote into the host's /etc");
    assert_eq!(code, 0, "{err}");
    assert_eq!(text(&c.files("linkonc"), "ob"), "in-image\n");
    assert_eq!(c.containers(), "");
}

/// A loopback HTTP server answering every request 401 with a Bearer (its
/// own /token as realm) and a Basic challenge; the requests it got.
fn challenging_server() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::Write;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match c.read(&mut b) {
                    Ok(1) => head.push(b[0]),
                    _ => break,
                }
            }
            s.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            let _ = write!(
                c,
                "HTTP/1.1 401 Unauthorized\r\n\
                 WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"x\"\r\n\
                 WWW-Authenticate: Basic realm=\"x\"\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (port, seen)
}

#[test]
fn add_url_never_sends_registry_credentials() {
    let Some(c) = Ctx::new() else { return };
    let (port, seen) = challenging_server();
    let host = format!("127.0.0.1:{port}");
    // Credentials for exactly that host, in every file the client reads.
    let auth = c.env.path("auth.json");
    std::fs::write(
        &auth,
        format!(r#"{{"auths":{{"{host}":{{"auth":"dXNlcjpzZWNyZXQ="}}}}}}"#),
    )
    .unwrap();
    let docker = c.env.path("dockercfg");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::copy(&auth, docker.join("config.json")).unwrap();
    let d = c.context(
        "add401",
        &[(
            "Dockerfile",
            &format!("FROM busybox\nADD http://{host}/f /f\n"),
        )],
    );
    let (code, _, err) = c.build_env(
        &[d.to_str().unwrap()],
        &[
            ("REGISTRY_AUTH_FILE", auth.to_str().unwrap()),
            ("DOCKER_CONFIG", docker.to_str().unwrap()),
        ],
    );
    assert_ne!(code, 0, "built through a 401");
    assert!(err.contains("401"), "{err}");
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty(), "the server got no request");
    for r in seen.iter() {
        assert!(!r.to_ascii_lowercase().contains("authorization:"), "{r}");
        assert!(!r.contains("/token"), "the challenge was answered: {r}");
    }
    assert_eq!(c.containers(), "");
}
