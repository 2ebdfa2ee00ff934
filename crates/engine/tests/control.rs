//! pause, unpause, top and restart through the engine API (no CLI).

mod common;

use common::{until, Env};
use engine::{Error, Status};
use std::time::Duration;

/// Lines in the container's log so far.
fn ticks(env: &Env, id: &str) -> usize {
    env.logs(id).lines().count()
}

#[test]
fn pause_freezes_and_unpause_resumes() {
    let env = Env::new();
    let id = env
        .run_detached(&env.opts(&["sh", "-c", "while true; do echo t; sleep 0.05; done"]))
        .unwrap();
    assert!(until(Duration::from_secs(5), || ticks(&env, &id) >= 2));
    env.engine.pause(&id).unwrap();
    assert_eq!(env.engine.state(&id).unwrap().status, Status::Paused);
    let v = env.engine.inspect(&id).unwrap();
    assert_eq!(v["State"]["Status"], "paused");
    assert_eq!(v["State"]["Paused"], true);
    // Frozen: no output while paused (a line in flight may land first).
    std::thread::sleep(Duration::from_millis(200));
    let n = ticks(&env, &id);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ticks(&env, &id), n, "output while paused");
    // Twice is a conflict, as is unpausing a running container.
    assert!(matches!(env.engine.pause(&id), Err(Error::Conflict(_))));
    env.engine.unpause(&id).unwrap();
    assert_eq!(env.engine.state(&id).unwrap().status, Status::Running);
    assert!(until(Duration::from_secs(5), || ticks(&env, &id) > n + 2));
    assert!(matches!(env.engine.unpause(&id), Err(Error::Conflict(_))));
    // A paused container is stopped by stop.
    env.engine.pause(&id).unwrap();
    env.engine.stop(&id, Some(1)).unwrap();
    let st = env.engine.state(&id).unwrap();
    assert_eq!(st.status, Status::Exited);
    assert!(matches!(env.engine.pause(&id), Err(Error::Conflict(_))));
    assert!(matches!(env.engine.unpause(&id), Err(Error::Conflict(_))));
}

#[test]
fn top_lists_the_containers_processes() {
    let env = Env::new();
    let id = env
        .run_detached(&env.opts(&["sh", "-c", "sleep 31 & sleep 32; wait"]))
        .unwrap();
    let mut rows = Vec::new();
    assert!(until(Duration::from_secs(5), || {
        rows = env.engine.top(&id).map(|t| t.processes).unwrap_or_default();
        // Both children exec'd sleep (a fork shows as sh for a moment).
        let cmds: Vec<&str> = rows.iter().map(|r| r[3].as_str()).collect();
        cmds.contains(&"sleep 31") && cmds.contains(&"sleep 32")
    }));
    let top = env.engine.top(&id).unwrap();
    assert_eq!(top.titles, ["UID", "PID", "PPID", "CMD"]);
    let cmd = top.titles.iter().position(|t| t == "CMD").unwrap();
    let pid = top.titles.iter().position(|t| t == "PID").unwrap();
    let cmds: Vec<&str> = top.processes.iter().map(|r| r[cmd].as_str()).collect();
    assert!(
        cmds.contains(&"sleep 31") && cmds.contains(&"sleep 32"),
        "{cmds:?}"
    );
    // Host pids: the init's is the state's.
    let init = env.engine.state(&id).unwrap().pid.to_string();
    assert!(top.processes.iter().any(|r| r[pid] == init), "{top:?}");
    env.engine.kill(&id, None).unwrap();
    env.engine.wait(&id).unwrap();
    assert!(matches!(env.engine.top(&id), Err(Error::Conflict(_))));
}

#[test]
fn restart_stops_and_starts_again() {
    let env = Env::new();
    let mut o = env.opts(&[
        "sh",
        "-c",
        "echo started; trap 'exit 3' TERM; sleep 60 & wait",
    ]);
    o.name = Some("again".into());
    let id = env.run_detached(&o).unwrap();
    assert!(until(Duration::from_secs(5), || env.logs(&id) == "started\n"));
    let before = env.engine.state(&id).unwrap();
    env.engine.restart("again", Some(5)).unwrap();
    let after = env.engine.state(&id).unwrap();
    assert_eq!(after.status, Status::Running);
    assert_ne!(after.pid, before.pid);
    assert_ne!(after.started_at, before.started_at);
    // The stop's exit is recorded; a user's restart is not the policy's.
    assert_eq!((after.exits, after.last_exit_code), (1, 3));
    assert_eq!(after.restart_count, 0);
    assert!(until(Duration::from_secs(5), || env.logs(&id)
        == "started\nstarted\n"));
    // A stopped container is started.
    env.engine.stop(&id, Some(5)).unwrap();
    assert_eq!(env.engine.state(&id).unwrap().status, Status::Exited);
    env.engine.restart(&id, None).unwrap();
    assert_eq!(env.engine.state(&id).unwrap().status, Status::Running);
    assert!(matches!(
        env.engine.restart("nonesuch", None),
        Err(Error::NoSuchContainer(_))
    ));
}

/// `--health-start-period 10s --health-start-interval 1s --health-interval
/// 1h`: in the start period the check runs every start interval (docker ≥
/// 25), so the container is healthy well before the hour; once healthy
/// the interval applies again.
#[test]
fn health_start_interval_in_the_start_period() {
    let env = Env::new();
    let mut o = env.opts(&["sleep", "300"]);
    o.network = Some("none".into());
    o.health = engine::options::HealthFlags {
        cmd: Some("true".into()),
        interval: Some("1h".into()),
        start_period: Some("10s".into()),
        start_interval: Some("1s".into()),
        ..Default::default()
    };
    let id = env.run_detached(&o).unwrap();
    let status = || env.engine.health(&id).map(|h| h.status).unwrap_or_default();
    assert!(
        until(Duration::from_secs(8), || status() == "healthy"),
        "{:?}",
        env.engine.health(&id)
    );
    // Healthy: the next probe is an hour away (a slow machine only makes
    // fewer probes).
    std::thread::sleep(Duration::from_millis(2500));
    let h = env.engine.health(&id).unwrap();
    assert_eq!(h.log.len(), 1, "{h:?}");
    let v = env.engine.inspect(&id).unwrap();
    assert_eq!(
        v["Config"]["Healthcheck"]["StartInterval"], 1_000_000_000u64,
        "{v}"
    );
    env.engine.stop(&id, Some(1)).unwrap();
}
