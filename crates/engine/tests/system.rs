//! `system df` and `info` through the engine's typed results, without the
//! CLI: the numbers (active, reclaimable, shared sizes, state counts) by
//! docker's rules, and their Engine API shapes (`/system/df`, `/info`).
mod common;

use common::*;
use engine::commit::CommitRequest;
use std::collections::BTreeMap;

#[test]
fn disk_usage_counts_what_is_in_use_and_what_is_reclaimable() {
    let env = Env::new();
    let e = &env.engine;
    // A second image sharing busybox's layer: a commit of a container.
    let mut o = env.opts(&["sh", "-c", "echo committed > /f"]);
    o.name = Some("wr".into());
    assert_eq!(env.run(&o).0, 0);
    e.commit(&CommitRequest {
        container: "wr".into(),
        reference: Some(image::Reference::parse("snap:1").unwrap()),
        ..CommitRequest::default()
    })
    .unwrap();
    e.remove("wr", false).unwrap();

    // Two volumes: one mounted by a container, one by none.
    for (name, bytes) in [("vol", 100), ("free", 10)] {
        e.create_volume(Some(name), "local", BTreeMap::new(), BTreeMap::new())
            .unwrap();
        std::fs::write(e.volume_data_path(name).join("data"), vec![b'x'; bytes]).unwrap();
    }
    // An exited container from busybox with 2000 bytes in its layer and
    // the volume; a running one from the committed image.
    let mut o = env.opts(&["sh", "-c", "head -c 2000 /dev/zero > /big"]);
    o.name = Some("used".into());
    o.volumes = vec!["vol:/data".into()];
    assert_eq!(env.run(&o).0, 0);
    let mut o = env.opts(&["sleep", "60"]);
    o.image = "snap:1".into();
    o.name = Some("runs".into());
    e.run_detached(&o).unwrap();

    let du = e.disk_usage().unwrap();
    let busybox = du
        .images
        .iter()
        .find(|i| i.repo_tags.iter().any(|t| t.contains("busybox")))
        .unwrap();
    let snap = du
        .images
        .iter()
        .find(|i| i.repo_tags.iter().any(|t| t.contains("snap")))
        .unwrap();
    // The base layer is shared, counted once in the total.
    let base = busybox.size;
    assert!(base > 0);
    assert_eq!(busybox.shared_size, base);
    assert_eq!(snap.shared_size, base);
    assert!(snap.size > base);
    assert_eq!(du.layers_size, snap.size);
    assert_eq!((busybox.containers, snap.containers), (1, 1));
    // Both images are used: what is reclaimable is the shared layer alone
    // (docker's rule: an active image holds only its unique layers).
    assert_eq!(du.image_usage.total_count, 2);
    assert_eq!(du.image_usage.active_count, 2);
    assert_eq!(du.image_usage.total_size, snap.size);
    assert_eq!(du.image_usage.reclaimable, base);

    let u = du
        .containers
        .iter()
        .find(|c| c.summary.names == "used")
        .unwrap();
    assert!(u.size_rw >= 2000, "{}", u.size_rw);
    assert_eq!(u.size_root_fs, u.size_rw + base);
    assert_eq!(du.container_usage.total_count, 2);
    assert_eq!(du.container_usage.active_count, 1);
    assert_eq!(
        du.container_usage.total_size,
        du.containers.iter().map(|c| c.size_rw).sum::<u64>()
    );
    assert_eq!(du.container_usage.reclaimable, u.size_rw);

    assert_eq!(du.volume_usage.total_count, 2);
    assert_eq!(du.volume_usage.active_count, 1);
    assert_eq!(du.volume_usage.total_size, 110);
    assert_eq!(du.volume_usage.reclaimable, 10);
    let vol = du.volumes.iter().find(|v| v.volume.name == "vol").unwrap();
    assert_eq!((vol.usage_data.size, vol.usage_data.ref_count), (100, 1));

    // The Engine API's shape.
    let j = serde_json::to_value(&du).unwrap();
    assert_eq!(j["LayersSize"], snap.size);
    assert!(j["Images"][0]["Id"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(j["Containers"][0]["SizeRw"].is_u64());
    assert!(j["Volumes"][0]["UsageData"]["RefCount"].is_u64());
    assert_eq!(j["BuildCache"], serde_json::json!([]));
    assert_eq!(j["VolumeUsage"]["Reclaimable"], 10);

    // The removal of the running container makes its image's unique
    // layer reclaimable too.
    e.remove("runs", true).unwrap();
    let du = e.disk_usage().unwrap();
    assert_eq!(du.image_usage.active_count, 1);
    assert_eq!(du.image_usage.reclaimable, snap.size);
    assert_eq!(du.container_usage.active_count, 0);
}

#[test]
fn info_counts_containers_by_state() {
    let env = Env::new();
    let e = &env.engine;
    let mut o = env.opts(&["true"]);
    o.name = Some("done".into());
    assert_eq!(env.run(&o).0, 0);
    let mut o = env.opts(&["sleep", "60"]);
    o.name = Some("up".into());
    e.run_detached(&o).unwrap();
    let mut o = env.opts(&["sleep", "60"]);
    o.name = Some("held".into());
    e.run_detached(&o).unwrap();
    e.pause("held").unwrap();

    let info = e.info().unwrap();
    assert_eq!(
        (
            info.containers,
            info.containers_running,
            info.containers_paused,
            info.containers_stopped
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(info.images, 1);
    assert_eq!(info.driver, "overlay2");
    assert_eq!(info.docker_root_dir, env.root().display().to_string());
    assert_eq!(info.swarm.local_node_state, "inactive");
    assert_eq!(info.default_runtime, "berth-oci");
    assert!(info.runtimes.contains_key("berth-oci"));
    assert!(info.security_options[0].starts_with("name=seccomp,profile="));
    assert!(info.ncpu >= 1 && info.mem_total > 0);
    // The id is made once and kept.
    assert_eq!(info.id.len(), 36, "{}", info.id);
    assert_eq!(e.info().unwrap().id, info.id);
    let j = serde_json::to_value(&info).unwrap();
    for k in [
        "ID",
        "Containers",
        "ContainersRunning",
        "ContainersPaused",
        "ContainersStopped",
        "Images",
        "Driver",
        "CgroupDriver",
        "CgroupVersion",
        "KernelVersion",
        "OperatingSystem",
        "OSType",
        "Architecture",
        "NCPU",
        "MemTotal",
        "DockerRootDir",
        "Name",
        "ServerVersion",
        "Runtimes",
        "DefaultRuntime",
        "SecurityOptions",
        "Swarm",
    ] {
        assert!(j.get(k).is_some(), "{k} missing");
    }
    e.unpause("held").unwrap();
}
