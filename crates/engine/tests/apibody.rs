//! Differential tests of the Engine API's create body: each body the
//! docker CLI sent for a command (tests/fixtures/api, see its README) gives
//! the same `CreateOptions` as the same flags given to Berth's CLI parser.
//! No root, no store: pure conversions.

use engine::api::ContainerCreateBody;
use engine::health::HealthFlags;
use engine::logs::LogConfig;
use engine::options::{normalize_caps, Mount};
use engine::{CreateFlags, CreateOptions};

fn body(name: &str) -> ContainerCreateBody {
    let path = format!(
        "{}/tests/fixtures/api/create-{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// What docker's CLI reorders or splits: `Binds` come from a map (any
/// order), anonymous volumes travel in `Volumes`, `Tmpfs` is a map, and
/// port ranges are sent one port a binding, capabilities are named
/// `CAP_X` (Berth's CLI keeps the names as given; both forms are read);
/// see `stdin_once` below.
fn normalized(mut o: CreateOptions) -> CreateOptions {
    o.cap_add = normalize_caps(&o.cap_add);
    o.cap_drop = normalize_caps(&o.cap_drop);
    // StdinOnce is no flag: docker's CLI sets it for an attached `run -i`
    // (Berth's `run -i` attaches that way without recording it).
    o.stdin_once = false;
    o.binds.sort_by(|a, b| a.target().cmp(b.target()));
    o.tmpfs.sort_by(|a, b| a.target.cmp(&b.target));
    let mut ports = Vec::new();
    for b in &o.port_bindings {
        for (i, p) in (b.container_ports.0..=b.container_ports.1).enumerate() {
            let mut one = b.clone();
            one.container_ports = (p, p);
            one.host_ports = b.host_ports.map(|(h, _)| (h + i as u16, h + i as u16));
            ports.push(one);
        }
    }
    ports.sort_by_key(|b| (b.container_ports, b.proto.to_string()));
    o.port_bindings = ports;
    o
}

fn same(fixture: &str, name: Option<&str>, flags: CreateFlags) {
    let from_cli = normalized(flags.parse().unwrap());
    let from_api = normalized(body(fixture).into_options(name).unwrap());
    assert_eq!(from_api, from_cli, "{fixture}");
}

#[test]
fn default_body() {
    same(
        "default",
        None,
        CreateFlags {
            image: "busybox".into(),
            ..Default::default()
        },
    );
}

#[test]
fn resources_ports_volumes_body() {
    same(
        "resources",
        Some("web"),
        CreateFlags {
            image: "busybox".into(),
            name: Some("web".into()),
            cmd: s(&["sh", "-c", "echo hi"]),
            publish: s(&["8080:80", "127.0.0.1::53/udp", "9000-9001:90-91"]),
            volumes: s(&["/x:/y:ro", "data:/data", "/anon"]),
            memory: Some("64m".into()),
            memory_swap: Some("128m".into()),
            memory_reservation: Some("32m".into()),
            cpus: Some("0.5".into()),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0".into()),
            cpuset_mems: Some("0".into()),
            pids_limit: Some(100),
            ulimits: s(&["nofile=1024:2048"]),
            shm_size: Some("128m".into()),
            restart: Some("on-failure:3".into()),
            env: s(&["A=1"]),
            labels: s(&["k=v"]),
            workdir: Some("/tmp".into()),
            user: Some("1000:1000".into()),
            hostname: Some("myhost".into()),
            stop_signal: Some("SIGINT".into()),
            stop_timeout: Some(5),
            ..Default::default()
        },
    );
}

#[test]
fn security_namespaces_devices_body() {
    same(
        "security",
        None,
        CreateFlags {
            image: "busybox".into(),
            privileged: true,
            cap_add: s(&["NET_ADMIN"]),
            cap_drop: s(&["MKNOD"]),
            security_opt: s(&["no-new-privileges", "seccomp=unconfined"]),
            read_only: true,
            pid: Some("host".into()),
            ipc: Some("shareable".into()),
            userns: Some("host".into()),
            sysctls: s(&["net.ipv4.ip_forward=1"]),
            group_add: s(&["10"]),
            devices: s(&["/dev/null:/dev/mynull:rw"]),
            device_cgroup_rules: s(&["c 1:3 rwm"]),
            init: true,
            ..Default::default()
        },
    );
}

#[test]
fn mounts_health_dns_logs_body() {
    let flags = CreateFlags {
        image: "busybox".into(),
        cmd: s(&["-c", "true"]),
        mounts: s(&[
            "type=bind,source=/x,target=/m,readonly,bind-propagation=rslave",
            "type=volume,source=vol,target=/v,volume-nocopy,volume-label=a=b",
            "type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770",
        ]),
        tmpfs: s(&["/run:size=16m,mode=755"]),
        health: HealthFlags {
            cmd: Some("true".into()),
            interval: Some("5s".into()),
            retries: Some(3),
            timeout: Some("2s".into()),
            start_period: Some("1s".into()),
            ..Default::default()
        },
        dns: s(&["1.1.1.1"]),
        dns_search: s(&["example.com"]),
        dns_options: s(&["ndots:2"]),
        add_hosts: s(&["db:10.0.0.2"]),
        log_config: LogConfig::from_flags(Some("local"), &s(&["max-size=10m"])).unwrap(),
        tty: true,
        interactive: true,
        auto_remove: true,
        entrypoint: Some("/bin/sh".into()),
        ..Default::default()
    };
    same("mounts", None, flags.clone());
    // The typed mounts are the --mount parser's.
    let o = body("mounts").into_options(None).unwrap();
    assert!(matches!(&o.mounts[1], Mount::Volume(v) if v.no_copy && v.labels["a"] == "b"));
}

#[test]
fn network_links_publish_all_no_healthcheck_body() {
    same(
        "network",
        None,
        CreateFlags {
            image: "busybox".into(),
            network: Some("mynet".into()),
            network_aliases: s(&["web"]),
            ip: Some("10.5.0.9".into()),
            links: s(&["db:database"]),
            publish_all: true,
            health: HealthFlags {
                disable: true,
                ..Default::default()
            },
            entrypoint: Some(String::new()),
            ..Default::default()
        },
    );
}

/// The bodies survive a round trip through the typed body (what the API
/// face reads is what it would write back).
#[test]
fn bodies_round_trip() {
    for f in ["default", "resources", "security", "mounts", "network"] {
        let b = body(f);
        let again: ContainerCreateBody =
            serde_json::from_value(serde_json::to_value(&b).unwrap()).unwrap();
        assert_eq!(again, b, "{f}");
    }
}

/// The update body docker's CLI sends (every field, zeros for the unset
/// ones) gives the same request as the same flags to Berth's CLI parser.
#[test]
fn update_body_is_the_flags_request() {
    let b: engine::api::ContainerUpdateBody = serde_json::from_str(
        r#"{"BlkioWeight":0,"CpuShares":0,"Memory":67108864,"NanoCpus":1500000000,
            "CpusetCpus":"","MemorySwap":0,"MemoryReservation":0,"PidsLimit":null,
            "RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}"#,
    )
    .unwrap();
    let flags = engine::UpdateFlags {
        memory: Some("64m".into()),
        cpus: Some("1.5".into()),
        restart: Some("on-failure:3".into()),
        ..Default::default()
    };
    assert_eq!(b.into_options(), flags.parse().unwrap());
    // A policy without a count, and an empty body: nothing but what is set.
    let b: engine::api::ContainerUpdateBody =
        serde_json::from_str(r#"{"RestartPolicy":{"Name":"always"}}"#).unwrap();
    let o = b.into_options();
    assert_eq!(o.restart.as_deref(), Some("always"));
    assert_eq!(o.memory, None);
    let o = engine::api::ContainerUpdateBody::default().into_options();
    assert_eq!(o, engine::UpdateOptions::default());
}

/// `logs`' tail and since/until: one parser for the CLI, compose and the
/// API's query.
#[test]
fn logs_tail_and_times() {
    use engine::logs::{parse_tail, time_arg};
    assert_eq!(parse_tail("all").unwrap(), None);
    assert_eq!(parse_tail("").unwrap(), None);
    assert_eq!(parse_tail("-1").unwrap(), None);
    assert_eq!(parse_tail(" 5 ").unwrap(), Some(5));
    let e = parse_tail("x").unwrap_err().to_string();
    assert!(e.contains("--tail") && e.contains("\"x\""), "{e}");
    assert_eq!(time_arg(Some("0")), None);
    assert_eq!(time_arg(Some("0.000000000")), None);
    assert_eq!(time_arg(Some("")), None);
    assert_eq!(time_arg(None), None);
    assert_eq!(time_arg(Some("1700000000")).as_deref(), Some("1700000000"));
    assert_eq!(time_arg(Some("10m")).as_deref(), Some("10m"));
}

/// `/events`' JSON filters, as the engine's filter type, mean what the
/// same `--filter` flags mean; a bad key is refused.
#[test]
fn events_json_filters_are_the_flags() {
    use engine::filters::Filters;
    use engine::EventsOptions;
    let json =
        Filters::from_json(r#"{"type":["container"],"event":{"start":true},"label":["a=b"]}"#)
            .unwrap();
    let api = EventsOptions::with_filters("", "", &json).unwrap();
    let cli = EventsOptions::parse(
        "",
        "",
        &[
            "type=container".into(),
            "event=start".into(),
            "label=a=b".into(),
        ],
    )
    .unwrap();
    assert_eq!(api.filters, cli.filters);
    let bad = Filters::from_json(r#"{"colour":["red"]}"#).unwrap();
    let e = EventsOptions::with_filters("", "", &bad).unwrap_err();
    assert!(e.to_string().contains("colour"), "{e}");
}
