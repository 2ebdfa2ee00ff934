//! The event journal through the engine's API, without the CLI: what the
//! operations log, and [`Engine::events`] (the reader of `berth events` and
//! the API's `/events`): history within since/until, filters, following.

mod common;

use common::Env;
use engine::events::Message;
use engine::EventsOptions;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn history(env: &Env, opts: &EventsOptions) -> Vec<Message> {
    let mut v = Vec::new();
    env.engine
        .events(opts, &|| false, &mut |m| {
            v.push(m);
            true
        })
        .unwrap();
    v
}

fn window(since: SystemTime, filters: &[&str]) -> EventsOptions {
    let f: Vec<String> = filters.iter().map(|s| s.to_string()).collect();
    let mut o = EventsOptions::parse("", "", &f).unwrap();
    o.since = Some(since);
    o.until = Some(SystemTime::now());
    o
}

#[test]
fn engine_operations_log_events_with_dockers_attributes() {
    let env = Env::new();
    let since = SystemTime::now();
    let mut o = env.opts(&["sh", "-c", "exit 7"]);
    o.name = Some("evc".into());
    o.labels = vec!["tier=db".to_string()];
    let (code, _, _) = env.run(&o);
    assert_eq!(code, 7);
    env.engine.remove("evc", false).unwrap();
    env.engine
        .create_volume(Some("evv"), "local", BTreeMap::new(), BTreeMap::new())
        .unwrap();
    env.engine.remove_volume("evv", false).unwrap();

    let got = history(&env, &window(since, &[]));
    let seq: Vec<(String, String)> = got
        .iter()
        .map(|m| (m.typ.clone(), m.action.clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("container", "create"),
        ("container", "attach"),
        ("container", "start"),
        ("container", "die"),
        ("container", "destroy"),
        ("volume", "create"),
        ("volume", "destroy"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    // (A network connect/disconnect of the default bridge may be there.)
    let seq: Vec<_> = seq.into_iter().filter(|(t, _)| t != "network").collect();
    assert_eq!(seq, want);
    let die = got.iter().find(|m| m.action == "die").unwrap();
    assert_eq!(die.actor.attributes["exitCode"], "7");
    assert_eq!(die.actor.attributes["name"], "evc");
    assert_eq!(die.actor.attributes["image"], "busybox");
    assert_eq!(die.actor.attributes["tier"], "db");
    assert!(die.actor.attributes.contains_key("execDuration"));
    assert_eq!(die.scope, "local");
    assert_eq!(die.status, "die", "deprecated fields filled for containers");
    assert_eq!(die.from, "busybox");
    // Filters: AND across keys, OR within one.
    let only = history(
        &env,
        &window(since, &["type=volume", "event=create", "event=destroy"]),
    );
    assert_eq!(only.len(), 2);
    assert!(history(&env, &window(since, &["label=tier=web"])).is_empty());
    assert_eq!(history(&env, &window(since, &["label=tier=db"])).len(), 5);
    // A window that ended before: nothing.
    let mut before = window(since, &[]);
    before.until = Some(since);
    assert!(history(&env, &before).is_empty());
}

#[test]
fn options_parse_dockers_forms_and_refuse_bad_ones() {
    let o = EventsOptions::parse("10m", "1700000000.5", &[]);
    assert!(o.is_err(), "since after until is refused");
    let o =
        EventsOptions::parse("1700000000", "2023-11-14T22:13:21Z", &["type=image".into()]).unwrap();
    assert!(o.since.unwrap() < o.until.unwrap());
    assert_eq!(o.filters.get("type"), ["image"]);
    for (s, u, f) in [
        ("yesterday", "", vec![]),
        ("", "soon", vec![]),
        ("", "", vec!["colour=red".to_string()]),
        ("", "", vec!["type".to_string()]),
    ] {
        let e = EventsOptions::parse(s, u, &f).unwrap_err();
        assert_eq!(e.exit_code(), 125, "{e}");
    }
}

#[test]
fn follow_delivers_new_events_until_stopped() {
    let env = Env::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let eng = env.engine.clone();
    let stop2 = stop.clone();
    let reader = std::thread::spawn(move || {
        eng.events(
            &EventsOptions::default(),
            &|| stop2.load(Ordering::Relaxed),
            &mut |m| tx.send(m.actor.id).is_ok(),
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    env.engine
        .create_volume(Some("live"), "local", BTreeMap::new(), BTreeMap::new())
        .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "live");
    let t = Instant::now();
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    env.engine.remove_volume("live", false).unwrap();
}
