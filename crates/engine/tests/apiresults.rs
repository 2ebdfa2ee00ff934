//! The engine's results in docker's Engine API shapes: `container inspect`
//! has every field docker's has (the key sets of the bodies docker's CLI
//! sent, tests/fixtures/api, are those of docker's `HostConfig`, `Config`
//! and `EndpointSettings`, which inspect serializes too), the list entry
//! is docker's `container.Summary`, and an inspect's `Config` and
//! `HostConfig` make a create body again (what clients that recreate a
//! container send). Needs root (creates containers; no start).

mod common;

use common::Env;
use engine::api::ContainerCreateBody;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/api/create-{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// Every key of `want` is in `got`.
fn has_all(what: &str, got: &Value, want: &[String]) {
    let got = keys(got);
    let missing: Vec<&String> = want.iter().filter(|k| !got.contains(k)).collect();
    assert!(missing.is_empty(), "{what} lacks {missing:?}");
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn create(env: &Env, body: Value, name: &str) -> String {
    let mut b: ContainerCreateBody = serde_json::from_value(body).unwrap();
    if let Some(rt) = common::test_runtime() {
        b.host_config.get_or_insert_with(Default::default).runtime =
            rt.to_string_lossy().into_owned();
    }
    let o = b.into_options(Some(name)).unwrap();
    env.engine.create(&o).unwrap()
}

#[test]
fn inspect_has_dockers_fields() {
    let env = Env::new();
    let mut body = fixture("default");
    body["Cmd"] = serde_json::json!(["true"]);
    body["Labels"] = serde_json::json!({"a": "b"});
    body["HostConfig"]["PortBindings"] =
        serde_json::json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]});
    body["HostConfig"]["NetworkMode"] = "none".into();
    body["NetworkingConfig"] = Value::Null;
    let id = create(&env, body, "shape");
    let v = env.engine.inspect(&id).unwrap();

    has_all(
        "inspect",
        &v,
        &strs(&[
            "Id",
            "Created",
            "Path",
            "Args",
            "State",
            "Image",
            "ResolvConfPath",
            "HostnamePath",
            "HostsPath",
            "LogPath",
            "Name",
            "RestartCount",
            "Driver",
            "Platform",
            "MountLabel",
            "ProcessLabel",
            "AppArmorProfile",
            "ExecIDs",
            "HostConfig",
            "GraphDriver",
            "Mounts",
            "Config",
            "NetworkSettings",
        ]),
    );
    has_all(
        "State",
        &v["State"],
        &strs(&[
            "Status",
            "Running",
            "Paused",
            "Restarting",
            "OOMKilled",
            "Dead",
            "Pid",
            "ExitCode",
            "Error",
            "StartedAt",
            "FinishedAt",
        ]),
    );
    // docker's HostConfig and Config: the keys its CLI sent.
    let f = fixture("default");
    has_all("HostConfig", &v["HostConfig"], &keys(&f["HostConfig"]));
    let config_keys: Vec<String> = keys(&f)
        .into_iter()
        .filter(|k| k != "HostConfig" && k != "NetworkingConfig")
        .collect();
    has_all("Config", &v["Config"], &config_keys);
    has_all(
        "NetworkSettings",
        &v["NetworkSettings"],
        &strs(&["Bridge", "SandboxID", "SandboxKey", "Ports", "Networks"]),
    );
    let endpoint_keys = keys(&f["NetworkingConfig"]["EndpointsConfig"]["default"]);
    let net = &v["NetworkSettings"]["Networks"]["none"];
    has_all("Networks.none", net, &endpoint_keys);

    // Values in docker's types.
    let h = &v["HostConfig"];
    assert_eq!(
        h["PortBindings"],
        serde_json::json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]})
    );
    assert_eq!(h["ConsoleSize"], serde_json::json!([0, 0]));
    assert_eq!(
        h["RestartPolicy"],
        serde_json::json!({"Name": "no", "MaximumRetryCount": 0})
    );
    assert_eq!(
        h["LogConfig"],
        serde_json::json!({"Type": "json-file", "Config": {}})
    );
    assert_eq!(h["NetworkMode"], "none");
    assert!(v["Config"]["OnBuild"].is_null());
    assert_eq!(v["Config"]["Labels"]["a"], "b");
    assert!(net["IPAMConfig"].is_null());
    assert_eq!(net["IPAddress"], "");

    // The typed result reads back as the request's types, and makes a
    // create body that converts again (same limits, ports and command).
    let mut again = v["Config"].clone();
    again["HostConfig"] = v["HostConfig"].clone();
    let b: ContainerCreateBody = serde_json::from_value(again).unwrap();
    let o = b.into_options(Some("shape2")).unwrap();
    assert_eq!(o.cmd, ["true"]);
    assert_eq!(o.port_bindings[0].host_ports, Some((8080, 8080)));
    assert_eq!(o.network_mode.as_deref(), Some("none"));
    env.engine.create(&o).unwrap();
}

#[test]
fn container_list_entry_is_dockers_summary() {
    let env = Env::new();
    let mut body = fixture("default");
    body["Cmd"] = serde_json::json!(["true"]);
    body["Labels"] = serde_json::json!({"k": "v"});
    body["HostConfig"]["NetworkMode"] = "none".into();
    body["NetworkingConfig"] = Value::Null;
    let id = create(&env, body, "listed");
    let list = env
        .engine
        .containers_json(&engine::ListOptions {
            all: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(list.len(), 1);
    let v = serde_json::to_value(&list[0]).unwrap();
    has_all(
        "summary",
        &v,
        &strs(&[
            "Id",
            "Names",
            "Image",
            "ImageID",
            "Command",
            "Created",
            "Ports",
            "Labels",
            "State",
            "Status",
            "HostConfig",
            "NetworkSettings",
            "Mounts",
        ]),
    );
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["Names"], serde_json::json!(["/listed"]));
    assert!(v["Created"].as_i64().unwrap() > 1_600_000_000, "{v}");
    assert_eq!(v["State"], "created");
    assert_eq!(v["Status"], "Created");
    assert_eq!(v["Command"], "true");
    assert_eq!(v["Labels"]["k"], "v");
    assert_eq!(v["HostConfig"], serde_json::json!({"NetworkMode": "none"}));
    assert!(v["NetworkSettings"]["Networks"]["none"].is_object(), "{v}");
    assert!(v.get("SizeRw").is_none());
}
