//! `berth events` end to end: what container, image, network and volume
//! commands write to the journal, read back with docker's flags, followed
//! live, and the docker CLI reference's `docker events` examples. Needs
//! root (containers).

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Env;

fn now_secs() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// `events --since SINCE --until now` with `extra` flags: its lines.
fn events(env: &Env, since: &str, extra: &[&str]) -> Vec<String> {
    let until = now_secs();
    let mut args = vec!["events", "--since", since, "--until", &until];
    args.extend_from_slice(extra);
    env.ok(&args).lines().map(str::to_string).collect()
}

/// `TYPE ACTION` of each default line (after the time).
fn kinds(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            format!("{} {}", f[1], f[2])
        })
        .collect()
}

fn rm_all(env: &Env) {
    let ids = env.output(&["ps", "-a", "-q", "--no-trunc"]);
    for id in String::from_utf8_lossy(&ids.stdout).lines() {
        let _ = env.output(&["rm", "-f", id]);
    }
}

#[test]
fn container_run_stop_rm_sequence_and_attributes() {
    let env = Env::new();
    env.import_busybox("bb", &[]);
    let since = now_secs();
    let id = env
        .ok(&[
            "run",
            "-d",
            "--name",
            "ev1",
            "--network",
            "none",
            "--label",
            "com.example.team=blue",
            "bb",
            "sh",
            "-c",
            "trap 'exit 143' TERM; while true; do sleep 0.1; done",
        ])
        .trim()
        .to_string();
    env.ok(&["stop", "-t", "5", "ev1"]);
    env.ok(&["rm", "ev1"]);
    let lines = events(&env, &since, &["--filter", "type=container"]);
    rm_all(&env);
    assert_eq!(
        kinds(&lines),
        [
            "container create",
            "container start",
            "container kill",
            "container die",
            "container stop",
            "container destroy"
        ],
        "{lines:#?}"
    );
    // docker's default line: RFC 3339 with nine fraction digits in UTC, the
    // full ID, attributes sorted (labels, image, name, and the act's own).
    let t = lines[0].split(' ').next().unwrap();
    assert!(
        t.len() == 30 && t.ends_with('Z') && t.as_bytes()[19] == b'.',
        "{t}"
    );
    assert_eq!(
        lines[0].split_once(' ').unwrap().1,
        format!("container create {id} (com.example.team=blue, image=bb, name=ev1)")
    );
    assert!(
        lines[2].ends_with(&format!(
            "container kill {id} (com.example.team=blue, image=bb, name=ev1, signal=15)"
        )),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains(&format!(
            "container die {id} (com.example.team=blue, execDuration="
        )) && lines[3].ends_with(", exitCode=143, image=bb, name=ev1)"),
        "{}",
        lines[3]
    );
    // Filters as docker's: label, container by name and by ID prefix, event.
    assert_eq!(
        events(
            &env,
            &since,
            &["-f", "label=com.example.team=blue", "-f", "event=die"]
        )
        .len(),
        1
    );
    assert_eq!(
        events(&env, &since, &["-f", "container=ev1"]).len(),
        6,
        "by name"
    );
    assert_eq!(
        events(&env, &since, &["-f", &format!("container={}", &id[..12])]).len(),
        6
    );
    assert!(events(&env, &since, &["-f", "label=com.example.team=red"]).is_empty());
    assert_eq!(
        kinds(&events(
            &env,
            &since,
            &["-f", "image=bb", "-f", "event=start"]
        )),
        ["container start"]
    );
}

#[test]
fn run_rm_attach_exec_pause_rename_restart() {
    let env = Env::new();
    env.import_busybox("bb", &[]);
    let since = now_secs();
    let (code, _, err) = env.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(code, 3, "{err}");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "ev2",
        "--network",
        "none",
        "bb",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(env.run(&["exec", "ev2", "sh", "-c", "exit 5"]).0, 5);
    env.ok(&["pause", "ev2"]);
    env.ok(&["unpause", "ev2"]);
    env.ok(&["rename", "ev2", "ev3"]);
    env.ok(&["kill", "ev3"]);
    env.ok(&["rm", "-f", "ev3"]);
    let lines = events(&env, &since, &[]);
    rm_all(&env);
    let k = kinds(&lines);
    let want = [
        "container create",
        "container attach",
        "container start",
        "container die",
        "container destroy",
        "container create",
        "container start",
        "container exec_create:",
        "container exec_start:",
        "container exec_die",
        "container pause",
        "container unpause",
        "container rename",
        "container kill",
        "container die",
        "container destroy",
    ];
    assert_eq!(k, want, "{lines:#?}");
    assert!(lines[3].contains("exitCode=3,"), "{}", lines[3]);
    assert!(
        lines[7].contains("exec_create: sh -c exit 5 "),
        "{}",
        lines[7]
    );
    assert!(lines[9].contains("exitCode=5"), "{}", lines[9]);
    let exec_id = |l: &str| {
        l.split("execID=")
            .nth(1)
            .unwrap()
            .split([',', ')'])
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(exec_id(&lines[7]), exec_id(&lines[9]));
    assert!(
        lines[12].contains("name=ev3, oldName=ev2)"),
        "{}",
        lines[12]
    );
    assert!(lines[13].contains("signal=9"), "{}", lines[13]);
    // `event=exec_create` matches the action with its command, as docker's.
    assert_eq!(events(&env, &since, &["-f", "event=exec_create"]).len(), 1);

    let since = now_secs();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "ev4",
        "--network",
        "none",
        "bb",
        "busybox",
        "sleep",
        "300",
    ]);
    env.ok(&["restart", "-t", "0", "ev4"]);
    let k = kinds(&events(&env, &since, &["-f", "container=ev4"]));
    rm_all(&env);
    assert_eq!(
        k,
        [
            "container create",
            "container start",
            "container kill",
            "container kill",
            "container die",
            "container stop",
            "container start",
            "container restart"
        ]
    );
}

#[test]
fn image_tag_rmi_save_load_events() {
    let env = Env::new();
    let since = now_secs();
    let id = env.import_busybox("bb", &[]);
    env.ok(&["tag", "bb", "bb:two"]);
    env.ok(&["rmi", "bb:two"]);
    let tar = env.path("bb-save.tar");
    env.ok(&["save", "-o", tar.to_str().unwrap(), "bb"]);
    env.ok(&["rmi", "bb"]);
    env.ok(&["load", "-i", tar.to_str().unwrap()]);
    let lines = events(&env, &since, &["--filter", "type=image"]);
    let rest: Vec<&str> = lines.iter().map(|l| l.split_once(' ').unwrap().1).collect();
    assert_eq!(
        rest,
        [
            format!("image import {id} (name={id})"),
            format!("image tag {id} (name=bb:two)"),
            format!("image untag {id} (name=bb:two)"),
            format!("image save {id} (name={id})"),
            format!("image untag {id} (name=bb:latest)"),
            format!("image delete {id} (name={id})"),
            format!("image load {id} (name={id})"),
        ],
        "{lines:#?}"
    );
    // image= matches the name with or without its tag, and the ID.
    assert_eq!(events(&env, &since, &["-f", "image=bb"]).len(), 3);
    assert_eq!(events(&env, &since, &["-f", "image=bb:two"]).len(), 2);
    assert_eq!(
        events(&env, &since, &["-f", &format!("image={id}")]).len(),
        7
    );
}

#[test]
fn network_and_volume_events() {
    let env = Env::new();
    env.import_busybox("bb", &[]);
    let net = format!("evnet{}", std::process::id());
    let since = now_secs();
    let net_id = env.ok(&["network", "create", &net]).trim().to_string();
    env.ok(&["volume", "create", "evvol"]);
    let id = env
        .ok(&[
            "run",
            "-d",
            "--network",
            &net,
            "-v",
            "evvol:/data",
            "bb",
            "busybox",
            "sleep",
            "300",
        ])
        .trim()
        .to_string();
    env.ok(&["rm", "-f", &id]);
    env.ok(&["volume", "rm", "evvol"]);
    env.ok(&["network", "rm", &net]);
    let lines = events(&env, &since, &["-f", "type=network", "-f", "type=volume"]);
    rm_all(&env);
    let rest: Vec<&str> = lines.iter().map(|l| l.split_once(' ').unwrap().1).collect();
    assert_eq!(
        rest,
        [
            format!("network create {net_id} (name={net}, type=bridge)"),
            "volume create evvol (driver=local)".to_string(),
            format!("volume mount evvol (container={id}, destination=/data, driver=local, propagation=, read/write=true)"),
            format!("network connect {net_id} (container={id}, name={net}, type=bridge)"),
            format!("volume unmount evvol (container={id}, driver=local)"),
            format!("network disconnect {net_id} (container={id}, name={net}, type=bridge)"),
            "volume destroy evvol (driver=local)".to_string(),
            format!("network destroy {net_id} (name={net}, type=bridge)"),
        ],
        "{lines:#?}"
    );
    assert_eq!(
        events(&env, &since, &["-f", &format!("network={net}")]).len(),
        4
    );
    assert_eq!(events(&env, &since, &["-f", "volume=evvol"]).len(), 4);
}

/// Follows until `want` lines came or 20 s passed; the lines.
fn read_lines(
    lines: &mut std::io::Lines<BufReader<std::process::ChildStdout>>,
    want: usize,
) -> Vec<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut got = Vec::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            for l in lines.by_ref().take(want) {
                if tx.send(l.unwrap()).is_err() {
                    return;
                }
            }
        });
        let t = Instant::now();
        while got.len() < want && t.elapsed() < Duration::from_secs(20) {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
                got.push(l);
            }
        }
    });
    got
}

#[test]
fn follow_shows_new_events_and_ends_on_sigint_and_sigterm() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let env = Env::new();
        // Events from before the follow started are not shown.
        env.ok(&["volume", "create", "old"]);
        let mut child = env
            .cmd(&["events", "--format", "{{.Type}} {{.Action}} {{.Actor.ID}}"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // The follower opens the journal at its end before this lands.
        std::thread::sleep(Duration::from_millis(500));
        env.ok(&["volume", "create", "new1"]);
        env.ok(&["volume", "rm", "new1"]);
        let got = read_lines(&mut lines, 2);
        assert_eq!(got, ["volume create new1", "volume destroy new1"]);
        // SAFETY: a plain kill(2) of our own child.
        let r = unsafe { libc::kill(child.id() as i32, sig) };
        assert_eq!(r, 0);
        let t = Instant::now();
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                assert_eq!(st.code(), Some(0), "signal {sig}: {st:?}");
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "signal {sig}: still running"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn until_in_the_future_follows_then_ends() {
    let env = Env::new();
    let since = now_secs();
    let t = Instant::now();
    let until = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(2);
    let child = env
        .cmd(&[
            "events",
            "--since",
            &since,
            "--until",
            &until.as_secs().to_string(),
            "--format",
            "{{.Action}} {{.Actor.ID}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    env.ok(&["volume", "create", "during"]);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "create during\n");
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "it waited for --until"
    );
}

/// The docker CLI reference's `docker events` examples
/// (docs/reference/commandline/system_events.md), on Berth's events.
#[test]
fn docker_reference_examples() {
    let env = Env::new();
    env.import_busybox("alpine:latest", &[]);
    // Unix seconds: the next whole second, once it has come.
    let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let since_unix = (start.as_secs() + 1).to_string();
    std::thread::sleep(Duration::from_nanos(
        1_000_000_000 - u64::from(start.subsec_nanos()),
    ));
    // `docker create --name test alpine:latest top; docker start test; docker stop test`
    env.ok(&["volume", "create", "testVol"]);
    let id = env
        .ok(&[
            "create",
            "--name",
            "test",
            "--network",
            "none",
            "alpine:latest",
            "busybox",
            "top",
        ])
        .trim()
        .to_string();
    env.ok(&["start", "test"]);
    env.ok(&["stop", "-t", "1", "test"]);
    let until = now_secs();
    let ev = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["events", "--until", until.as_str()];
        args.extend_from_slice(extra);
        env.ok(&args).lines().map(str::to_string).collect()
    };
    // "Filter events by time": unix seconds, a date, a duration.
    let all = ev(&["--since", &since_unix]);
    assert_eq!(
        kinds(&all),
        [
            "volume create",
            "container create",
            "container start",
            "container kill",
            "container die",
            "container stop"
        ],
        "{all:#?}"
    );
    assert!(all[1].ends_with(&format!(
        "container create {id} (image=alpine:latest, name=test)"
    )));
    assert!(all[3].ends_with("(image=alpine:latest, name=test, signal=15)"));
    // busybox top ends on SIGTERM: 143, as in the reference's example.
    assert!(all[4].contains("exitCode=143"), "{}", all[4]);
    // Ten minutes back also has the image's import.
    let recent = ev(&["--since", "10m"]);
    assert_eq!(recent[1..], all[..]);
    assert!(recent[0].contains(" image import "), "{}", recent[0]);
    let rfc = {
        let line = &all[0];
        line.split(' ').next().unwrap().to_string()
    };
    assert_eq!(ev(&["--since", &rfc]), all);
    // Docker's date forms (read as UTC): the day, and the time without a zone.
    assert_eq!(ev(&["--since", &rfc[..10]]), recent);
    assert_eq!(
        ev(&["--since", &rfc[..19]])[..],
        recent[recent.len() - all.len()..]
    );
    // "Filter events by criteria".
    assert_eq!(
        kinds(&ev(&["--since", "10m", "--filter", "event=stop"])),
        ["container stop"]
    );
    // image= matches the container events of the image (and not its
    // import, named by ID).
    let by_image = ev(&["--since", "10m", "--filter", "image=alpine"]);
    assert_eq!(by_image.len(), 5, "{by_image:#?}");
    // As docker's filter (moby's fuzzyMatchName), `container=test` is a
    // prefix of any actor's ID or name: the volume testVol's too.
    assert_eq!(
        kinds(&ev(&["--since", "10m", "--filter", "container=test"])),
        kinds(&all)
    );
    assert_eq!(
        kinds(&ev(&[
            "--since",
            "10m",
            "--filter",
            "container=test",
            "--filter",
            "event=stop"
        ])),
        ["container stop"]
    );
    assert_eq!(
        ev(&["--since", "10m", "--filter", "type=volume"]),
        all[..1].to_vec()
    );
    // "Format the output".
    let f = ev(&[
        "--since",
        "10m",
        "--filter",
        "type=container",
        "--format",
        "Type={{.Type}}  Status={{.Status}}  ID={{.ID}}",
    ]);
    assert_eq!(f[0], format!("Type=container  Status=create  ID={id}"));
    assert_eq!(f.len(), 5);
    // "Format as JSON": `json` and `{{ json . }}` are the same JSON lines.
    let j = ev(&["--since", "10m", "--format", "json"]);
    assert_eq!(j, ev(&["--since", "10m", "--format", "{{ json . }}"]));
    let v: serde_json::Value = serde_json::from_str(&j[2]).unwrap();
    assert_eq!(v["status"], "create");
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["from"], "alpine:latest");
    assert_eq!(v["Type"], "container");
    assert_eq!(v["Action"], "create");
    assert_eq!(v["Actor"]["ID"], id.as_str());
    assert_eq!(v["Actor"]["Attributes"]["name"], "test");
    assert_eq!(v["scope"], "local");
    let nanos = v["timeNano"].as_i64().unwrap();
    assert_eq!(v["time"].as_i64().unwrap(), nanos / 1_000_000_000);
    let vol: serde_json::Value = serde_json::from_str(&j[1]).unwrap();
    assert!(vol.get("status").is_none(), "{vol}");
    // Errors: a template docker refuses, a bad filter, a bad time.
    let e = env.fails(&["events", "--format", "{{.Nope}}"], 64);
    assert!(e.contains("Error parsing format"), "{e}");
    let e = env.fails(&["events", "--filter", "colour=red", "--until", "0s"], 125);
    assert!(e.contains("invalid filter 'colour'"), "{e}");
    let e = env.fails(&["events", "--since", "yesterday"], 125);
    assert!(e.contains("--since"), "{e}");
    rm_all(&env);
}

#[test]
fn push_and_pull_events() {
    let Some(reg) = common::DockerRegistry::start(None) else {
        return;
    };
    let env = Env::new();
    let id = env.import_busybox("bb", &[]);
    let dest = reg.name("ev/bb:1");
    let since = now_secs();
    env.ok(&["push", "bb", &dest]);
    env.ok(&["rmi", "bb"]);
    env.ok(&["pull", &dest]);
    let lines = events(&env, &since, &["--filter", "type=image"]);
    let rest: Vec<&str> = lines.iter().map(|l| l.split_once(' ').unwrap().1).collect();
    let repo = dest.rsplit_once(':').unwrap().0;
    // As docker: push and pull name the reference as the actor and its
    // repository as `name`.
    assert_eq!(
        rest,
        [
            format!("image push {dest} (name={repo})"),
            format!("image untag {id} (name=bb:latest)"),
            format!("image delete {id} (name={id})"),
            format!("image pull {dest} (name={repo})"),
        ],
        "{lines:#?}"
    );
}

#[test]
fn health_status_event() {
    let env = Env::new();
    env.import_busybox("bb", &[]);
    let since = now_secs();
    let id = env
        .ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--health-cmd",
            "true",
            "--health-interval",
            "300ms",
            "bb",
            "busybox",
            "sleep",
            "300",
        ])
        .trim()
        .to_string();
    let t = Instant::now();
    let mut got = Vec::new();
    while got.is_empty() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
        got = events(&env, &since, &["--filter", "event=health_status"]);
    }
    rm_all(&env);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains(&format!(
            "container health_status: healthy {id} (image=bb, name="
        )),
        "{}",
        got[0]
    );
}

/// A container killed by the OOM killer (`--memory 8m`, a shell doubling
/// a string): `oom` then `die` with 137, and inspect's `OOMKilled`, as
/// docker.
#[test]
fn oom_event_then_die() {
    let env = Env::new();
    env.import_busybox("bb", &[]);
    let since = now_secs();
    let o = env.output(&[
        "run",
        "--name",
        "hog",
        "--network",
        "none",
        "--memory",
        "8m",
        "--memory-swap",
        "8m",
        "bb",
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
    ]);
    assert_eq!(o.status.code(), Some(137), "{o:?}");
    let got = events(
        &env,
        &since,
        &[
            "--filter",
            "container=hog",
            "--format",
            "{{.Action}} {{index .Actor.Attributes \"exitCode\"}}",
        ],
    );
    let oom = got.iter().position(|l| l.trim() == "oom");
    let die = got.iter().position(|l| l == "die 137");
    assert!(matches!((oom, die), (Some(a), Some(b)) if a < b), "{got:?}");
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.OOMKilled}} {{.State.ExitCode}}",
            "hog"
        ])
        .trim(),
        "true 137"
    );
    rm_all(&env);
}
