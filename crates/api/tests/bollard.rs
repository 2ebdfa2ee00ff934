//! The stream endpoints through bollard (the Rust Docker API client):
//! docker's `run` attach before start with stdin and its half-close, exec
//! start with stdin, logs follow and the events stream, against `berth
//! system service` (the `berth` binary of this target directory, which
//! `cargo test --workspace` builds) on a per-test store. Needs root.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, EventsOptionsBuilder,
    LogsOptionsBuilder, WaitContainerOptionsBuilder,
};
use bollard::{ClientVersion, Docker};
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

struct Service {
    dir: tempfile::TempDir,
    berth: PathBuf,
    child: Child,
}

impl Service {
    fn start() -> Option<Service> {
        if !berth_testkit::require_root("containers") {
            return None;
        }
        // target/debug/deps/bollard-HASH → target/debug/berth.
        let berth = std::env::current_exe()
            .unwrap()
            .parent()
            .and_then(|d| d.parent())
            .map(|d| d.join("berth"))
            .unwrap();
        if !berth.is_file() {
            berth_testkit::skip("target/debug/berth is not built (cargo build -p berth)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let tar = dir.path().join("bb.tar");
        std::fs::write(
            &tar,
            berth_testkit::busybox_tar(&["sh", "echo", "cat", "sleep"]),
        )
        .unwrap();
        let st = Command::new(&berth)
            .arg("--root")
            .arg(&root)
            .args(["import", tar.to_str().unwrap(), "bb"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        let sock = dir.path().join("s.sock");
        let child = Command::new(&berth)
            .arg("--root")
            .arg(&root)
            .args(["system", "service", "--time", "0"])
            .arg(format!("unix://{}", sock.display()))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            assert!(t.elapsed() < Duration::from_secs(20), "no service");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Service { dir, berth, child })
    }

    fn docker(&self) -> Docker {
        let sock = self.dir.path().join("s.sock");
        Docker::connect_with_unix(
            sock.to_str().unwrap(),
            60,
            &ClientVersion {
                major_version: 1,
                minor_version: 50,
            },
        )
        .unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let root = self.dir.path().join("root");
        let ids = Command::new(&self.berth)
            .arg("--root")
            .arg(&root)
            .args(["ps", "-aq", "--no-trunc"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for id in ids.lines() {
            let _ = Command::new(&self.berth)
                .arg("--root")
                .arg(&root)
                .args(["rm", "-f", id])
                .output();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An output stream to its end: (stdout, stderr).
async fn collect(
    mut s: impl Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
) -> (String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(item) = s.next().await {
        match item.expect("stream item") {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                out.push_str(&String::from_utf8_lossy(&message))
            }
            LogOutput::StdErr { message } => err.push_str(&String::from_utf8_lossy(&message)),
            LogOutput::StdIn { .. } => {}
        }
    }
    (out, err)
}

fn body(cmd: &[&str], stdin: bool) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some("bb".into()),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        attach_stdin: Some(stdin),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(stdin),
        stdin_once: Some(stdin),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bollard_streams() {
    let Some(s) = Service::start() else { return };
    let d = s.docker();

    let secs = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let since = secs();

    // docker's run: create, attach, start; stdin's half-close ends the
    // container's stdin (StdinOnce), the output goes on to its end.
    let c = d
        .create_container(
            Some(
                CreateContainerOptionsBuilder::default()
                    .name("runner")
                    .build(),
            ),
            body(&["sh", "-c", "cat; echo bye >&2; exit 2"], true),
        )
        .await
        .unwrap();
    let mut a = d
        .attach_container(
            &c.id,
            Some(
                AttachContainerOptionsBuilder::default()
                    .stream(true)
                    .stdin(true)
                    .stdout(true)
                    .stderr(true)
                    .build(),
            ),
        )
        .await
        .unwrap();
    d.start_container(&c.id, None).await.unwrap();
    a.input.write_all(b"hello\n").await.unwrap();
    a.input.shutdown().await.unwrap();
    let (out, err) = collect(a.output).await;
    assert_eq!((out.as_str(), err.as_str()), ("hello\n", "bye\n"));
    // The output ends with the container: its exit code is there.
    let wait = d.wait_container(
        &c.id,
        Some(
            WaitContainerOptionsBuilder::default()
                .condition("not-running")
                .build(),
        ),
    );
    let codes: Vec<_> = wait.collect().await;
    // bollard gives a non-zero exit as its error.
    match &codes[..] {
        [Err(bollard::errors::Error::DockerContainerWaitError { code, .. })] => {
            assert_eq!(*code, 2)
        }
        other => panic!("wait: {other:?}"),
    }

    // exec with stdin on a running container.
    let c2 = d
        .create_container(
            Some(
                CreateContainerOptionsBuilder::default()
                    .name("sleeper")
                    .build(),
            ),
            body(&["sleep", "300"], false),
        )
        .await
        .unwrap();
    d.start_container(&c2.id, None).await.unwrap();
    let e = d
        .create_exec(
            &c2.id,
            CreateExecOptions {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(vec!["sh", "-c", "cat; echo done >&2"]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    match d
        .start_exec(&e.id, Some(StartExecOptions::default()))
        .await
        .unwrap()
    {
        StartExecResults::Attached { output, mut input } => {
            input.write_all(b"xyz").await.unwrap();
            input.shutdown().await.unwrap();
            let (out, err) = collect(output).await;
            assert_eq!((out.as_str(), err.as_str()), ("xyz", "done\n"));
        }
        StartExecResults::Detached => panic!("detached"),
    }
    let i = d.inspect_exec(&e.id).await.unwrap();
    assert_eq!((i.running, i.exit_code), (Some(false), Some(0)));

    // logs follow: to the container's end.
    let c3 = d
        .create_container(
            None,
            body(&["sh", "-c", "echo a; sleep 0.3; echo b >&2"], false),
        )
        .await
        .unwrap();
    d.start_container(&c3.id, None).await.unwrap();
    let logs = d.logs(
        &c3.id,
        Some(
            LogsOptionsBuilder::default()
                .follow(true)
                .stdout(true)
                .stderr(true)
                .build(),
        ),
    );
    let (out, err) = collect(logs).await;
    assert_eq!((out.as_str(), err.as_str()), ("a\n", "b\n"));

    // The events since the start, streamed until now: the runner's life.
    let events = d.events(Some(
        EventsOptionsBuilder::default()
            .since(&since.to_string())
            .until(&(secs() + 1).to_string())
            .filters(&HashMap::from([("container", vec!["runner"])]))
            .build(),
    ));
    let seen: Vec<String> = events
        .map(|ev| ev.unwrap().action.unwrap_or_default())
        .collect()
        .await;
    assert_eq!(seen, ["create", "attach", "start", "die"]);
}
