//! `version`, `info`/`system info` and `system df [-v]` through the real
//! CLI, compared with the layouts docker's CLI reference documents
//! (docs.docker.com/reference/cli/docker/{version,system/info,system/df}).
mod common;

use common::Env;

/// The lines of `out` that start with `prefix`, first one.
fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{out}"))
}

#[test]
fn version_prints_client_and_server_blocks_as_docker() {
    let env = Env::new();
    let out = env.ok(&["version"]);
    let v = env!("CARGO_PKG_VERSION");
    // docker's template through a tabwriter of width 20, padding 1.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Client: Berth");
    assert_eq!(lines[1], format!(" Version:           {v}"));
    assert_eq!(lines[2], " API version:       1.50");
    assert!(lines[3].starts_with(" Rust version:      rustc "), "{out}");
    assert!(lines.contains(&" Context:           default"), "{out}");
    assert!(lines.contains(&""), "{out}");
    assert!(lines.contains(&"Server: Berth"), "{out}");
    assert!(lines.contains(&" Engine:"), "{out}");
    assert!(
        lines.contains(&"  API version:      1.50 (minimum version 1.24)"),
        "{out}"
    );
    assert!(lines.contains(&"  Experimental:     false"), "{out}");
    assert!(lines.contains(&" berth-oci:"), "{out}");
    let os_arch = line(&out, " OS/Arch:");
    assert!(os_arch.ends_with("linux/amd64") || os_arch.ends_with("linux/arm64"));

    // --format as docker's reference: a template over Client and Server,
    // `json` the whole object.
    assert_eq!(
        env.ok(&["version", "--format", "{{.Server.Version}}"]),
        format!("{v}\n")
    );
    // docker's Go field names work too.
    assert_eq!(
        env.ok(&["version", "-f", "{{.Client.APIVersion}}"]),
        "1.50\n"
    );
    let j: serde_json::Value =
        serde_json::from_str(&env.ok(&["version", "--format", "json"])).unwrap();
    assert_eq!(j["Client"]["Version"], v);
    assert_eq!(j["Server"]["ApiVersion"], "1.50");
    assert_eq!(j["Server"]["MinAPIVersion"], "1.24");
    assert_eq!(j["Server"]["Components"][0]["Name"], "Engine");
    // A template that does not parse: docker's exit 64.
    let err = env.fails(&["version", "--format", "{{.Server"], 64);
    assert!(err.contains("template parsing error"), "{err}");
}

#[test]
fn info_and_system_info_print_dockers_fields() {
    let env = Env::new();
    env.import_busybox("busybox", &[]);
    env.ok(&["create", "--name", "c1", "busybox", "true"]);
    let out = env.ok(&["info"]);
    let lines: Vec<&str> = out.lines().collect();
    // The order of docker's `docker info`.
    let at = |l: &str| {
        lines
            .iter()
            .position(|x| *x == l)
            .unwrap_or_else(|| panic!("no line {l:?} in:\n{out}"))
    };
    let order = [
        at("Client:"),
        at("Server:"),
        at(" Containers: 1"),
        at("  Running: 0"),
        at("  Paused: 0"),
        at("  Stopped: 1"),
        at(" Images: 1"),
        at(" Storage Driver: overlay2"),
        at(" Logging Driver: json-file"),
        at(" Cgroup Driver: cgroupfs"),
        at(" Swarm: inactive"),
        at(" Default Runtime: berth-oci"),
        at(" Security Options:"),
        at("  seccomp"),
        at("   Profile: builtin"),
        at(" OSType: linux"),
        at(&format!(" Docker Root Dir: {}", env.root().display())),
        at(" Live Restore Enabled: false"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{out}");
    assert!(line(&out, " Total Memory: ").ends_with("iB"), "{out}");
    let id = line(&out, " ID: ").trim_start_matches(" ID: ").to_string();
    assert_eq!(id.len(), 36, "{id}");
    // `system info` is the same command.
    assert_eq!(env.ok(&["system", "info"]), out);
    assert_eq!(
        env.ok(&[
            "info",
            "--format",
            "{{.Containers}} {{.Images}} {{.Driver}} {{.ID}}"
        ]),
        format!("1 1 overlay2 {id}\n")
    );
    let j: serde_json::Value =
        serde_json::from_str(&env.ok(&["system", "info", "--format", "json"])).unwrap();
    assert_eq!(j["ContainersStopped"], 1);
    assert_eq!(j["Swarm"]["LocalNodeState"], "inactive");
    assert_eq!(j["DockerRootDir"], env.root().display().to_string());
    assert!(j["ClientInfo"]["Version"].is_string());
}

#[test]
fn system_df_tables_and_formats_as_docker() {
    let env = Env::new();
    // One image used by a container, one volume it mounts, one unused.
    env.import_busybox("busybox", &[]);
    env.ok(&["volume", "create", "used-vol"]);
    env.ok(&["volume", "create", "idle-vol"]);
    env.ok(&[
        "run",
        "--name",
        "c1",
        "-v",
        "used-vol:/data",
        "busybox",
        "sh",
        "-c",
        "echo 0123456789 > /data/f; echo abc > /f",
    ]);

    let out = env.ok(&["system", "df"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    // docker's header and column layout (tabwriter width 10, padding 3).
    assert_eq!(
        lines[0],
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"
    );
    let cells = |l: &str| -> Vec<String> {
        l.split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    };
    let images = cells(lines[1]);
    assert_eq!(&images[..3], ["Images", "1", "1"], "{out}");
    // All of busybox's layer is unique to an active image: 0 reclaimable.
    assert_eq!(images[4], "0B (0%)", "{out}");
    let containers = cells(lines[2]);
    assert_eq!(&containers[..3], ["Containers", "1", "0"], "{out}");
    assert!(containers[4].ends_with("(100%)"), "{out}");
    let volumes = cells(lines[3]);
    assert_eq!(
        volumes,
        ["Local Volumes", "2", "1", "11B", "0B (0%)"],
        "{out}"
    );
    assert_eq!(cells(lines[4]), ["Build Cache", "0", "0", "0B", "0B"]);

    // --format json: one object a line, docker's fields as strings.
    let rows: Vec<serde_json::Value> = env
        .ok(&["system", "df", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[2]["Type"], "Local Volumes");
    assert_eq!(rows[2]["TotalCount"], "2");
    assert_eq!(rows[2]["Active"], "1");
    assert_eq!(
        env.ok(&[
            "system",
            "df",
            "--format",
            "{{.Type}}: {{.Active}}/{{.TotalCount}}"
        ]),
        "Images: 1/1\nContainers: 0/1\nLocal Volumes: 1/2\nBuild Cache: 0/0\n"
    );
    assert_eq!(
        env.ok(&["system", "df", "--format", "table {{.Type}}\t{{.Size}}"])
            .lines()
            .next(),
        Some("TYPE            SIZE")
    );

    // -v: docker's four sections.
    let out = env.ok(&["system", "df", "-v"]);
    let at = |l: &str| {
        out.lines()
            .position(|x| x.starts_with(l))
            .unwrap_or_else(|| panic!("{l:?} in:\n{out}"))
    };
    let order = [
        at("Images space usage:"),
        at("REPOSITORY   TAG       IMAGE ID       CREATED"),
        at("busybox      latest    "),
        at("Containers space usage:"),
        at("CONTAINER ID   IMAGE     COMMAND"),
        at("Local Volumes space usage:"),
        at("VOLUME NAME   LINKS     SIZE"),
        at("Build cache usage: 0B"),
        at("CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{out}");
    assert!(
        line(&out, "busybox      latest").trim_end().ends_with(" 1"),
        "{out}"
    );
    assert!(line(&out, "used-vol").contains(" 1 "), "{out}");
    assert!(line(&out, "used-vol").trim_end().ends_with("11B"), "{out}");
    assert!(line(&out, "idle-vol").contains(" 0 "), "{out}");
    let c = line(&out, "CONTAINER ID");
    let row = out.lines().skip_while(|l| *l != c).nth(1).unwrap();
    assert!(
        row.contains(" busybox ") && row.contains("\"sh -c echo"),
        "{out}"
    );
    assert!(row.contains("Exited (0)"), "{out}");
    assert!(row.trim_end().ends_with("c1"), "{out}");
    // -v --format json: the four lists.
    let j: serde_json::Value =
        serde_json::from_str(&env.ok(&["system", "df", "-v", "--format", "json"])).unwrap();
    assert_eq!(j["Images"][0]["Repository"], "busybox");
    assert_eq!(j["Images"][0]["Containers"], "1");
    assert_eq!(j["Volumes"].as_array().unwrap().len(), 2);
    assert_eq!(j["BuildCache"], serde_json::json!([]));
}
