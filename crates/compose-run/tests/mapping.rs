//! The compose rules that need no container: a service's create options,
//! what is refused or warned about, names, labels, dependency order and
//! scale. (Running projects: crates/berth/tests/compose_up.rs.)

use berth_compose::{LoadOptions, Project};
use berth_compose_run::{labels, mapping, Compose};
use engine::options::mounts::Mount;
use engine::options::{HealthTest, RestartPolicy};

fn load(yaml: &str) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
    let mut o = LoadOptions::from_process();
    o.os_env.clear();
    o.cwd = dir.path().to_path_buf();
    o.project_name = Some("proj".into());
    let p = berth_compose::load(&o).unwrap().project;
    (dir, p)
}

fn compose(p: Project) -> (tempfile::TempDir, Compose) {
    let root = tempfile::tempdir().unwrap();
    let e = engine::Engine::open_with(root.path().join("root"), root.path().join("run")).unwrap();
    (root, Compose::new(e, p))
}

#[test]
fn a_service_maps_to_typed_create_options() {
    let (_d, p) = load(
        r#"
services:
  web:
    image: bb
    command: ["httpd", "-f"]
    entrypoint: []
    environment: {A: "1"}
    ports: ["127.0.0.1:8080:80/tcp", "9000"]
    volumes: ["data:/data:ro", "/cache"]
    tmpfs: ["/run:size=64k"]
    restart: on-failure:3
    stop_grace_period: 3s
    healthcheck:
      test: ["CMD-SHELL", "true"]
      interval: 2s
    networks:
      front: {aliases: [www]}
      back: {ipv4_address: 10.9.0.5}
    deploy:
      resources: {limits: {memory: 64m, cpus: "0.5"}}
volumes:
  data: {}
networks:
  front: {}
  back: {}
"#,
    );
    let m = mapping::create_options(&p, &p.services["web"]).unwrap();
    let o = &m.opts;
    assert_eq!(o.cmd, ["httpd", "-f"]);
    assert_eq!(o.entrypoint, Some(vec![]));
    assert!(o.env.contains(&"A=1".to_string()));
    assert_eq!(o.port_bindings.len(), 2);
    assert_eq!(o.port_bindings[0].host_ports, Some((8080, 8080)));
    assert_eq!(o.port_bindings[1].host_ports, None);
    match &o.mounts[0] {
        Mount::Volume(v) => {
            assert_eq!(v.name.as_deref(), Some("proj_data"));
            assert!(v.read_only);
        }
        m => panic!("{m:?}"),
    }
    assert!(matches!(&o.mounts[1], Mount::Volume(v) if v.name.is_none() && v.target == "/cache"));
    assert_eq!(o.tmpfs[0].target, "/run");
    assert_eq!(o.restart_policy, RestartPolicy::OnFailure(3));
    assert_eq!(o.stop_timeout, Some(3));
    let h = o.healthcheck.as_ref().unwrap();
    assert_eq!(h.test, Some(HealthTest::CmdShell("true".into())));
    assert_eq!(h.interval, Some(2_000_000_000));
    assert_eq!(o.resources.memory, 64 << 20);
    assert_eq!(o.resources.nano_cpus, 500_000_000);
    // the networks: the first by name primary, aliases = service + its own
    assert_eq!(o.network_mode.as_deref(), Some("proj_back"));
    assert_eq!(o.network_aliases, ["web"]);
    assert_eq!(o.ip, Some("10.9.0.5".parse().unwrap()));
    assert_eq!(m.extra_networks.len(), 1);
    assert_eq!(m.extra_networks[0].0, "proj_front");
    assert_eq!(m.extra_networks[0].1, ["web", "www"]);
}

#[test]
fn fields_the_engine_cannot_honour_are_named() {
    let (_d, p) = load(
        "services:\n  s:\n    image: bb\n    deploy:\n      placement:\n        constraints: [node.role==manager]\n    oom_score_adj: 5\n",
    );
    let w = mapping::check_supported(&p.services["s"]).unwrap();
    assert!(
        w.iter()
            .any(|x| x.starts_with("services.s.deploy.placement: not supported")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|x| x.starts_with("services.s.oom_score_adj: not supported")),
        "{w:?}"
    );
    // build: the builder's (compose build, up --build)
    let (_d, p) = load("services:\n  s:\n    build: .\n");
    assert!(mapping::check_supported(&p.services["s"]).is_ok());
    let (_d, p) = load(
        "services:\n  s:\n    image: bb\n    network_mode: \"service:t\"\n  t:\n    image: bb\n",
    );
    // resolved when a container is created (first container of t)
    assert!(mapping::check_supported(&p.services["s"]).is_ok());
    let (_d, p) = load(
        "services:\n  s:\n    image: bb\n    deploy:\n      resources:\n        reservations: {devices: [{capabilities: [gpu]}]}\n",
    );
    let e = mapping::check_supported(&p.services["s"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "services.s.deploy.resources.reservations.devices: not supported"
    );
}

#[test]
fn file_secrets_and_configs_are_read_only_binds_and_reservations_map() {
    let (d, p) = load(
        r#"
services:
  s:
    image: bb
    secrets: [tok, {source: tok, target: /etc/tok2, mode: 0400}]
    configs: [{source: c, target: app.conf}, inline]
    read_only: false
    deploy:
      resources:
        reservations: {memory: 32m, cpus: "0.25"}
secrets:
  tok: {file: ./tok}
configs:
  c: {file: ./c.conf}
  inline: {content: "x"}
"#,
    );
    std::fs::write(d.path().join("tok"), "t").unwrap();
    std::fs::write(d.path().join("c.conf"), "c").unwrap();
    let m = mapping::create_options(&p, &p.services["s"]).unwrap();
    let binds: Vec<(String, String, bool)> = m
        .opts
        .mounts
        .iter()
        .filter_map(|x| match x {
            Mount::Bind(b) => Some((b.source.clone(), b.target.clone(), b.read_only)),
            _ => None,
        })
        .collect();
    let dir = d.path().to_str().unwrap();
    assert_eq!(
        binds,
        [
            (format!("{dir}/tok"), "/run/secrets/tok".to_string(), true),
            (format!("{dir}/tok"), "/etc/tok2".to_string(), true),
            (format!("{dir}/c.conf"), "/app.conf".to_string(), true),
        ]
    );
    // (the inline config is written into the container, not mounted)
    assert!(
        m.warnings
            .iter()
            .any(|w| w.starts_with("services.s.secrets[1]: secrets `uid`, `gid` and `mode`")),
        "{:?}",
        m.warnings
    );
    assert_eq!(m.opts.resources.memory_reservation, 32 << 20);
    let w = mapping::check_supported(&p.services["s"]).unwrap();
    assert!(
        w.iter()
            .any(|x| x.starts_with("services.s.deploy.resources.reservations.cpus: not supported")),
        "{w:?}"
    );
    // by value in a read-only service: refused, as compose
    let (_d, p) = load(
        "services:\n  s:\n    image: bb\n    read_only: true\n    configs: [inline]\nconfigs:\n  inline: {content: x}\n",
    );
    let e = mapping::create_options(&p, &p.services["s"]).unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot create config \"proj_inline\" in read-only service s"),
        "{e}"
    );
}

#[test]
fn names_labels_order_and_scale() {
    let (_d, p) = load(
        r#"
services:
  web:
    image: bb
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_started, restart: true}
  db:
    image: bb
    scale: 2
  cache:
    image: bb
    container_name: the-cache
    deploy: {replicas: 1}
"#,
    );
    let (_r, c) = compose(p);
    assert_eq!(c.dependency_order().unwrap(), ["cache", "db", "web"]);
    assert_eq!(c.selected(&["web".into()], true).unwrap(), ["web"]);
    assert_eq!(
        c.selected(&["web".into()], false).unwrap(),
        ["cache", "db", "web"]
    );
    let web = &c.project.services["web"];
    assert_eq!(c.container_name(web, 2), "proj-web-2");
    assert_eq!(
        c.container_name(&c.project.services["cache"], 1),
        "the-cache"
    );
    assert_eq!(c.network_name("default"), "proj_default");
    let l = c.container_labels(web, 1, "sha256:abc", false, &Default::default());
    assert_eq!(l[labels::PROJECT], "proj");
    assert_eq!(l[labels::SERVICE], "web");
    assert_eq!(l[labels::NUMBER], "1");
    assert_eq!(l[labels::ONEOFF], "False");
    assert_eq!(l[labels::IMAGE], "sha256:abc");
    assert_eq!(l[labels::CONFIG_HASH], Project::service_hash(web));
    assert_eq!(
        l[labels::DEPENDS_ON],
        "cache:service_started:true,db:service_healthy:false"
    );
    let none = Default::default();
    assert_eq!(c.scale_of(&c.project.services["db"], &none), 2);
    assert_eq!(c.scale_of(&c.project.services["cache"], &none), 1);
    let over = [("db".to_string(), 5)].into_iter().collect();
    assert_eq!(c.scale_of(&c.project.services["db"], &over), 5);
}
