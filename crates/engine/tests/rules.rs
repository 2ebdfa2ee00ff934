//! The rules every face applies, driven through the engine API without the
//! CLI: ps filters, image list filters, prunes with their filters,
//! inspect resolution and shapes, the pull policy, update.
mod common;

use common::*;
use engine::filters::Filters;
use engine::{Error, ListOptions, ObjectKind, UpdateOptions};

fn f(args: &[&str]) -> Filters {
    Filters::parse_cli(args).unwrap()
}

fn names(env: &Env, filters: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = env
        .engine
        .ps(&ListOptions {
            all: true,
            filters: f(filters),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|s| s.names)
        .collect();
    v.sort();
    v
}

fn create(env: &Env, name: &str, edit: impl FnOnce(&mut engine::CreateFlags)) -> String {
    let mut o = env.opts(&["sleep", "100"]);
    o.name = Some(name.into());
    o.network = Some("none".into());
    edit(&mut o);
    env.create(&o).unwrap()
}

#[test]
fn ps_filters_through_the_engine() {
    let env = Env::new();
    env.import(
        "exposing:1",
        &image::ImportOptions {
            exposed_ports: vec!["8080/tcp".into()],
            labels: [("img".to_string(), "x".to_string())].into(),
            ..Default::default()
        },
        &[],
    );
    let first = create(&env, "web1", |o| o.labels = vec!["color=blue".into()]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = create(&env, "web2", |o| {
        o.labels = vec!["color=red".into(), "tier".into()];
        o.cmd = vec!["sh".into(), "-c".into(), "exit 3".into()];
    });
    env.engine.start(&second).unwrap();
    assert_eq!(env.engine.wait(&second).unwrap(), 3);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let third = create(&env, "db", |o| {
        o.image = "exposing:1".into();
        o.volumes = vec!["dbdata:/data".into()];
    });
    env.engine.start(&third).unwrap();

    // Running only without -a; status and exited imply -a.
    let running = env.engine.ps(&ListOptions::default()).unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].names, "db");
    // The image's exposed port shows in Ports (running, not published).
    assert_eq!(running[0].ports.len(), 1);
    assert_eq!(running[0].ports[0].private_port, 8080);
    assert_eq!(running[0].ports[0].public_port, 0);

    assert_eq!(names(&env, &["name=web"]), ["web1", "web2"]);
    assert_eq!(names(&env, &["name=^/web1$"]), ["web1"]);
    assert_eq!(names(&env, &[&format!("id={}", &second[..12])]), ["web2"]);
    assert_eq!(names(&env, &["label=color"]), ["web1", "web2"]);
    assert_eq!(names(&env, &["label=color=red"]), ["web2"]);
    // label values AND, label! excludes.
    assert_eq!(names(&env, &["label=color", "label=tier"]), ["web2"]);
    assert_eq!(names(&env, &["label!=tier"]), ["db", "web1"]);
    assert_eq!(names(&env, &["status=created"]), ["web1"]);
    assert_eq!(
        names(&env, &["status=exited", "status=running"]),
        ["db", "web2"]
    );
    assert_eq!(names(&env, &["exited=3"]), ["web2"]);
    assert!(names(&env, &["exited=0"]).is_empty());
    assert_eq!(names(&env, &["ancestor=exposing:1"]), ["db"]);
    assert_eq!(names(&env, &["ancestor=busybox"]), ["web1", "web2"]);
    assert!(names(&env, &["ancestor=no-such-image"]).is_empty());
    let info = env.engine.images().resolve("exposing:1").unwrap();
    let id = info.record.id.to_string();
    assert_eq!(names(&env, &[&format!("ancestor={}", &id[7..19])]), ["db"]);
    assert_eq!(names(&env, &[&format!("ancestor={id}")]), ["db"]);
    assert_eq!(names(&env, &["before=db"]), ["web1", "web2"]);
    assert_eq!(names(&env, &["before=web2"]), ["web1"]);
    assert_eq!(names(&env, &["since=web1"]), ["db", "web2"]);
    assert_eq!(names(&env, &["since=web1", "before=db"]), ["web2"]);
    assert_eq!(names(&env, &["volume=dbdata"]), ["db"]);
    assert_eq!(names(&env, &["volume=/data"]), ["db"]);
    assert_eq!(names(&env, &["network=none"]), ["db", "web1", "web2"]);
    assert!(names(&env, &["network=bridge"]).is_empty());
    assert_eq!(names(&env, &["expose=8080"]), ["db"]);
    assert_eq!(names(&env, &["expose=8000-8100/tcp"]), ["db"]);
    assert!(names(&env, &["expose=8080/udp"]).is_empty());
    assert!(names(&env, &["publish=8080"]).is_empty());
    assert_eq!(names(&env, &["health=none"]), ["db", "web1", "web2"]);
    assert!(names(&env, &["health=healthy"]).is_empty());
    assert_eq!(names(&env, &["isolation=default"]), ["db", "web1", "web2"]);
    // -n: the newest.
    let last = env
        .engine
        .ps(&ListOptions {
            limit: Some(1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(last[0].names, "db");
    // --size.
    let sized = env
        .engine
        .ps(&ListOptions {
            all: true,
            size: true,
            ..Default::default()
        })
        .unwrap();
    assert!(sized.iter().all(|s| s.size_root_fs.unwrap() > 0));

    // docker's errors.
    let err = |args: &[&str]| {
        env.engine
            .ps(&ListOptions {
                filters: f(args),
                ..Default::default()
            })
            .unwrap_err()
    };
    let e = err(&["bogus=1"]);
    assert!(matches!(e, Error::InvalidFilter(_)));
    assert_eq!(e.to_string(), "invalid filter 'bogus'");
    assert_eq!(
        err(&["status=sleeping"]).to_string(),
        "invalid filter 'status=sleeping'"
    );
    assert_eq!(
        err(&["health=great"]).to_string(),
        "Unrecognised filter value for health: great"
    );
    assert_eq!(
        err(&["isolation=hyperv"]).to_string(),
        "Unrecognised filter value for isolation: hyperv"
    );
    assert!(err(&["exited=x"]).to_string().contains("invalid syntax"));
    assert!(matches!(err(&["before=nosuch"]), Error::NoSuchContainer(_)));
    assert_eq!(
        err(&["publish=80/xyz"]).to_string(),
        "invalid filter 'publish=80/xyz'"
    );
    // The API's JSON form is the same filter.
    let json = Filters::from_json(r#"{"label":{"color=red":true}}"#).unwrap();
    let l = env
        .engine
        .ps(&ListOptions {
            all: true,
            filters: json,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].id, second);
    let _ = first;
}

#[test]
fn ancestor_takes_descendants_and_image_filters() {
    let env = Env::new();
    let base = create(&env, "base", |o| {
        o.cmd = vec!["touch".into(), "/tmp/x".into()]
    });
    env.engine.start(&base).unwrap();
    assert_eq!(env.engine.wait(&base).unwrap(), 0);
    // A child image: busybox plus a layer (commit).
    let child = env
        .engine
        .commit(&engine::commit::CommitRequest {
            container: base.clone(),
            reference: Some(image::Reference::parse("child:1").unwrap()),
            changes: vec!["LABEL kind=child".into()],
            ..Default::default()
        })
        .unwrap();
    let _ = child;
    create(&env, "fromchild", |o| o.image = "child:1".into());
    // ancestor=busybox: the child's container too (docker's descendants).
    assert_eq!(names(&env, &["ancestor=busybox"]), ["base", "fromchild"]);
    assert_eq!(names(&env, &["ancestor=child:1"]), ["fromchild"]);

    let store = env.engine.images();
    let list = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = engine::images::list(store, &f(args))
            .unwrap()
            .into_iter()
            .flat_map(|i| {
                if i.repo_tags.is_empty() {
                    vec!["<none>".to_string()]
                } else {
                    i.repo_tags
                }
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(list(&[]), ["busybox:latest", "child:1"]);
    assert_eq!(list(&["label=kind=child"]), ["child:1"]);
    assert_eq!(list(&["label!=kind"]), ["busybox:latest"]);
    assert_eq!(list(&["reference=busy*"]), ["busybox:latest"]);
    assert_eq!(list(&["reference=*:1"]), ["child:1"]);
    assert_eq!(list(&["reference=child"]), ["child:1"]);
    assert!(list(&["dangling=true"]).is_empty());
    // An untagged import is dangling.
    env.engine
        .images()
        .import(
            &busybox_tar(&[("etc/x", "1")])[..],
            &image::ImportOptions::default(),
            &[],
        )
        .unwrap();
    assert_eq!(list(&["dangling=true"]), ["<none>"]);
    assert_eq!(list(&["dangling=false"]), ["busybox:latest", "child:1"]);
    let e = engine::images::list(store, &f(&["dangling=maybe"])).unwrap_err();
    assert!(matches!(e, Error::InvalidFilter(_)), "{e}");
    let e = engine::images::list(store, &f(&["until=1h"])).unwrap_err();
    assert_eq!(e.to_string(), "invalid filter 'until'");
    assert!(engine::images::list(store, &f(&["before=nosuch:1"])).is_err());
}

#[test]
fn prunes_with_filters_through_the_engine() {
    let env = Env::new();
    let keep = create(&env, "keep", |o| o.labels = vec!["keep=yes".into()]);
    let gone = create(&env, "gone", |o| o.labels = vec!["tmp".into()]);
    // until: only containers created before it.
    let r = env
        .engine
        .prune_containers_with(&f(&["until=2000-01-01T00:00:00Z"]))
        .unwrap();
    assert!(r.containers_deleted.is_empty());
    let r = env
        .engine
        .prune_containers_with(&f(&["label!=keep"]))
        .unwrap();
    assert_eq!(r.containers_deleted, [gone]);
    let r = env
        .engine
        .prune_containers_with(&f(&["label=other"]))
        .unwrap();
    assert!(r.containers_deleted.is_empty());
    assert!(matches!(
        env.engine.prune_containers_with(&f(&["name=x"])),
        Err(Error::InvalidFilter(_))
    ));
    assert!(env
        .engine
        .prune_containers_with(&f(&["until=1h", "until=2h"]))
        .is_err());
    let r = env.engine.prune_containers_with(&f(&["until=0s"])).unwrap();
    assert_eq!(r.containers_deleted, [keep]);
    let report = serde_json::to_value(&r).unwrap();
    assert!(report["ContainersDeleted"].is_array());
    assert!(report["SpaceReclaimed"].is_u64());

    // Volumes: anonymous ones by default, named with all=true.
    let opts = |v: &str| {
        let mut o = env.opts(&["true"]);
        o.network = Some("none".into());
        o.volumes = vec![v.into()];
        o
    };
    let a = env.create(&opts("/anon")).unwrap();
    let b = env.create(&opts("named:/data")).unwrap();
    env.engine.remove(&a, false).unwrap();
    env.engine.remove(&b, false).unwrap();
    env.engine
        .create_volume(
            Some("labelled"),
            "local",
            [("team".to_string(), "a".to_string())].into(),
            Default::default(),
        )
        .unwrap();
    let r = env.engine.prune_volumes_with(&Filters::new()).unwrap();
    assert_eq!(r.volumes_deleted.len(), 1, "{:?}", r.volumes_deleted);
    let r = env
        .engine
        .prune_volumes_with(&f(&["all=true", "label!=team"]))
        .unwrap();
    assert_eq!(r.volumes_deleted, ["named"]);
    let r = env
        .engine
        .prune_volumes_with(&f(&["all=1", "label=team=a"]))
        .unwrap();
    assert_eq!(r.volumes_deleted, ["labelled"]);
    assert!(env.engine.prune_volumes_with(&f(&["until=1h"])).is_err());

    // Images: dangling only unless dangling=false; label and until.
    let store = env.engine.images();
    store
        .import(
            &busybox_tar(&[("etc/y", "1")])[..],
            &image::ImportOptions {
                labels: [("stage".to_string(), "build".to_string())].into(),
                ..Default::default()
            },
            &[],
        )
        .unwrap();
    let r = engine::images::prune(store, &f(&["label=stage=other"])).unwrap();
    assert!(r.images_deleted.is_empty());
    let r = engine::images::prune(store, &f(&["label=stage=build"])).unwrap();
    assert!(matches!(
        r.images_deleted.as_slice(),
        [engine::images::ImageDeleteItem::Deleted(_)]
    ));
    // busybox has no creation time: until keeps nothing back; but a
    // tagged image goes only with dangling=false.
    let r = engine::images::prune(store, &f(&["until=1h"])).unwrap();
    assert!(r.images_deleted.is_empty());
    let r = engine::images::prune(store, &f(&["dangling=false"])).unwrap();
    assert!(r
        .images_deleted
        .contains(&engine::images::ImageDeleteItem::Untagged(
            "busybox:latest".into()
        )));
    assert!(store.list().unwrap().is_empty());
    assert!(engine::images::prune(store, &f(&["dangling=perhaps"])).is_err());
}

// docker's parent relation: an untagged image another one names as its
// parent (a commit's base, a build step) is hidden by `images` and kept
// by `image prune` while it has a child; a prune takes the child, then
// the parent it leaves childless (rounds), never the tagged base.
#[test]
fn image_prune_takes_a_chain_of_untagged_images_child_first() {
    let env = Env::new();
    let commit = |name: &str, image: &str| -> String {
        let c = create(&env, name, |o| {
            o.image = image.into();
            o.cmd = vec!["touch".into(), format!("/tmp/{name}")];
        });
        env.engine.start(&c).unwrap();
        assert_eq!(env.engine.wait(&c).unwrap(), 0);
        let id = env
            .engine
            .commit(&engine::commit::CommitRequest {
                container: c.clone(),
                ..Default::default()
            })
            .unwrap()
            .id;
        env.engine.remove(&c, true).unwrap();
        id
    };
    let first = commit("first", "busybox");
    let second = commit("second", &first);
    let store = env.engine.images();
    let listed = |all: bool| -> Vec<String> {
        engine::images::list_with(store, &Filters::new(), all)
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect()
    };
    // without -a, the parent with a child is left out
    assert!(!listed(false).contains(&first));
    assert!(listed(false).contains(&second));
    assert!(listed(true).contains(&first));
    let r = engine::images::prune(store, &Filters::new()).unwrap();
    assert_eq!(
        r.images_deleted,
        [
            engine::images::ImageDeleteItem::Deleted(second),
            engine::images::ImageDeleteItem::Deleted(first)
        ],
        "{:?}",
        r.errors
    );
    let left: Vec<String> = store
        .list()
        .unwrap()
        .iter()
        .flat_map(|i| i.repo_tags.iter().map(|r| r.familiar()))
        .collect();
    assert_eq!(left, ["busybox:latest"]);
}

#[test]
fn system_prune_order_and_volumes_only_when_asked() {
    let env = Env::new();
    let mut o = env.opts(&["true"]);
    o.network = Some("none".into());
    o.volumes = vec!["/anon".into()];
    let id = env.create(&o).unwrap();
    let opts = engine::SystemPruneOptions::default();
    let r = env.engine.system_prune(&opts).unwrap();
    assert_eq!(r.containers.containers_deleted, [id]);
    assert!(r.volumes.is_none());
    // The anonymous volume is left without --volumes.
    assert_eq!(env.engine.list_volumes().unwrap().len(), 1);
    // busybox is tagged: not dangling, kept.
    assert!(r.images.images_deleted.is_empty());
    assert_eq!(env.engine.images().list().unwrap().len(), 1);
    let e = env
        .engine
        .system_prune(&engine::SystemPruneOptions {
            volumes: true,
            filters: f(&["until=1h"]),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "The \"until\" filter is not supported with \"--volumes\""
    );
    let r = env
        .engine
        .system_prune(&engine::SystemPruneOptions {
            volumes: true,
            all: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.volumes.unwrap().volumes_deleted.len(), 1);
    assert!(env.engine.images().list().unwrap().is_empty());
    assert!(r.space_reclaimed >= r.images.space_reclaimed);
}

#[test]
fn volume_and_network_lists_filter() {
    let env = Env::new();
    env.engine
        .create_volume(
            Some("alpha"),
            "local",
            [("k".to_string(), "v".to_string())].into(),
            Default::default(),
        )
        .unwrap();
    env.engine
        .create_volume(
            Some("beta"),
            "local",
            Default::default(),
            Default::default(),
        )
        .unwrap();
    let vols = |args: &[&str]| -> Vec<String> {
        env.engine
            .list_volumes_with(&f(args))
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect()
    };
    assert_eq!(vols(&["label=k"]), ["alpha"]);
    assert_eq!(vols(&["name=^b"]), ["beta"]);
    assert_eq!(vols(&["driver=local"]), ["alpha", "beta"]);
    assert!(vols(&["driver=loc"]).is_empty());
    assert_eq!(vols(&["dangling=true"]), ["alpha", "beta"]);
    assert!(env.engine.list_volumes_with(&f(&["label!=k"])).is_err());

    let nets = |args: &[&str]| -> Vec<String> {
        env.engine
            .list_networks_with(&f(args))
            .unwrap()
            .into_iter()
            .map(|n| n["Name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(nets(&[]), ["bridge", "host", "none"]);
    assert_eq!(nets(&["type=builtin"]), ["bridge", "host", "none"]);
    assert!(nets(&["type=custom"]).is_empty());
    assert_eq!(nets(&["driver=null"]), ["none"]);
    assert_eq!(nets(&["name=^h"]), ["host"]);
    assert_eq!(nets(&["scope=local"]).len(), 3);
    assert!(nets(&["dangling=true"]).is_empty());
    let e = env
        .engine
        .list_networks_with(&f(&["type=other"]))
        .unwrap_err();
    assert_eq!(e.to_string(), "invalid filter: 'type'='other'");
    assert!(env.engine.list_networks_with(&f(&["until=1h"])).is_err());
}

#[test]
fn inspect_resolves_each_kind_once() {
    let env = Env::new();
    let id = create(&env, "insp", |_| {});
    env.engine
        .create_volume(
            Some("vol1"),
            "local",
            Default::default(),
            Default::default(),
        )
        .unwrap();
    let kind = |name: &str, k: Option<ObjectKind>| {
        serde_json::to_value(env.engine.inspect_object(name, k, false).unwrap()).unwrap()
    };
    // Full id, unique prefix, name.
    assert_eq!(kind(&id, None)["Id"], id.as_str());
    assert_eq!(kind(&id[..10], None)["Id"], id.as_str());
    assert_eq!(kind("insp", None)["Name"], "/insp");
    assert!(kind("busybox", None)["RepoTags"].is_array());
    assert_eq!(kind("vol1", None)["Name"], "vol1");
    assert_eq!(kind("host", None)["Driver"], "host");
    assert_eq!(kind("none", Some(ObjectKind::Network))["Name"], "none");
    let e = env
        .engine
        .inspect_object("insp", Some(ObjectKind::Image), false)
        .unwrap_err();
    assert_eq!(e.to_string(), "No such image: insp");
    let e = env
        .engine
        .inspect_object("vol1", Some(ObjectKind::Container), false)
        .unwrap_err();
    assert_eq!(e.to_string(), "No such container: vol1");
    let e = env
        .engine
        .inspect_object("nothing", None, false)
        .unwrap_err();
    assert_eq!(e.to_string(), "No such object: nothing");
    // --size: SizeRw and SizeRootFs only when asked.
    let plain = kind("insp", Some(ObjectKind::Container));
    assert!(plain.get("SizeRw").is_none());
    let sized = serde_json::to_value(
        env.engine
            .inspect_object("insp", Some(ObjectKind::Container), true)
            .unwrap(),
    )
    .unwrap();
    assert!(sized["SizeRootFs"].as_u64().unwrap() > 0, "{sized}");
    assert!(sized["SizeRw"].is_u64());
    // An ambiguous prefix is docker's error.
    let other = create(&env, "other", |_| {});
    let common: usize = id
        .chars()
        .zip(other.chars())
        .take_while(|(a, b)| a == b)
        .count();
    if common > 0 {
        let e = env.engine.lookup(&id[..common]).unwrap_err();
        assert!(e.to_string().contains("multiple IDs found"), "{e}");
    }
}

/// The container's cgroup file `v1` (under `controller`) or `v2`.
fn cgroup_value(id: &str, controller: &str, v1: &str, v2: &str) -> String {
    let dir = cgroup_dir(controller, id);
    let p = if dir.join(v1).exists() {
        dir.join(v1)
    } else {
        dir.join(v2)
    };
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn update_changes_the_cgroup_and_the_record() {
    let env = Env::new();
    let mut o = env.opts(&["sleep", "100"]);
    o.network = Some("none".into());
    o.memory = Some("64m".into());
    let id = env.run_detached(&o).unwrap();
    let mem = || cgroup_value(&id, "memory", "memory.limit_in_bytes", "memory.max");
    let pids = || cgroup_value(&id, "pids", "pids.max", "pids.max");
    assert_eq!(mem(), (64u64 << 20).to_string());
    env.engine
        .update(
            &id,
            &UpdateOptions {
                memory: Some(128 << 20),
                memory_swap: Some(256 << 20),
                pids_limit: Some(50),
                nano_cpus: Some(500_000_000),
                restart: Some("on-failure:2".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(mem(), (128u64 << 20).to_string());
    assert_eq!(pids(), "50");
    let quota = cgroup_value(&id, "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(quota.starts_with("50000"), "{quota}");
    let v = env.engine.inspect(&id).unwrap();
    assert_eq!(v["HostConfig"]["Memory"], 128 << 20);
    assert_eq!(v["HostConfig"]["MemorySwap"], 256 << 20);
    assert_eq!(v["HostConfig"]["PidsLimit"], 50);
    assert_eq!(v["HostConfig"]["NanoCpus"], 500_000_000);
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
    // docker's rules.
    let e = env
        .engine
        .update(
            &id,
            &UpdateOptions {
                memory: Some(512 << 20),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("already set memoryswap"), "{e}");
    let e = env
        .engine
        .update(
            &id,
            &UpdateOptions {
                restart: Some("sometimes".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("--restart"), "{e}");
    // The next start keeps the new limits.
    env.engine.stop(&id, Some(1)).unwrap();
    env.engine.start(&id).unwrap();
    assert_eq!(mem(), (128u64 << 20).to_string());
    assert_eq!(pids(), "50");
    env.engine.remove(&id, true).unwrap();
}

#[test]
fn pull_policy_is_the_engine_s() {
    let env = Env::new();
    use engine::images::{pull_decision, PullDecision, PullPolicy};
    let store = env.engine.images();
    assert_eq!(
        pull_decision(store, "busybox", PullPolicy::Missing).unwrap(),
        PullDecision::UseLocal
    );
    assert_eq!(
        pull_decision(store, "busybox", PullPolicy::Never).unwrap(),
        PullDecision::UseLocal
    );
    assert!(matches!(
        pull_decision(store, "busybox", PullPolicy::Always).unwrap(),
        PullDecision::Pull { missing: false, .. }
    ));
    assert!(pull_decision(store, "nothere:1", PullPolicy::Never).is_err());
}
