//! `--format` as docker prints it: the docker CLI reference's examples
//! (docs/reference/commandline/{inspect,container_ls,image_ls}.md in
//! docker/cli, and the template functions of docs.docker.com's
//! "Format command and log output") run through the real `berth` binary.
//!
//! Tables are compared with docker/cli's current formatter (its tabwriter
//! with minimum width 10 and padding 3); the reference pages still show the
//! older 20-wide columns.

mod common;

use common::{free_port, Env};
use serde_json::Value;

/// A root with busybox as `bb`; removes its containers at the end.
struct T {
    env: Env,
}

impl T {
    fn new() -> T {
        let env = Env::new();
        env.import_busybox("bb", &[]);
        T { env }
    }

    fn ok(&self, args: &[&str]) -> String {
        self.env.ok(args)
    }

    fn inspect(&self, name: &str) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["inspect", name])).unwrap();
        v[0].clone()
    }

    /// `inspect --format F name`, without the newline inspect adds.
    fn fmt(&self, f: &str, name: &str) -> String {
        let out = self.ok(&["inspect", "--format", f, name]);
        out.strip_suffix('\n')
            .unwrap_or_else(|| panic!("{out:?} ends with a newline"))
            .to_string()
    }
}

impl Drop for T {
    fn drop(&mut self) {
        let ids = self.env.output(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.env.output(&["rm", "-f", id]);
        }
    }
}

#[test]
fn inspect_templates_as_docker_documents() {
    let t = T::new();
    let port = free_port().to_string();
    let publish = format!("127.0.0.1:{port}:8787");
    t.ok(&[
        "run", "-d", "--name", "web", "-p", &publish, "-l", "x=1", "bb", "busybox", "sleep", "60",
    ]);
    t.ok(&["create", "--name", "job", "bb", "echo", "hi", "there"]);
    let v = t.inspect("web");
    let net = &v["NetworkSettings"]["Networks"]["bridge"];
    let ip = net["IPAddress"].as_str().unwrap();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");

    // "Get an instance's IP address", "... MAC address", "... log path",
    // "... image name".
    assert_eq!(
        t.fmt(
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            "web"
        ),
        ip
    );
    assert_eq!(
        t.fmt(
            "{{range .NetworkSettings.Networks}}{{.MacAddress}}{{end}}",
            "web"
        ),
        net["MacAddress"].as_str().unwrap()
    );
    assert_eq!(t.fmt("{{.LogPath}}", "web"), v["LogPath"].as_str().unwrap());
    assert_eq!(t.fmt("{{.Config.Image}}", "web"), "bb");
    // "List all port bindings" and "Find a specific port mapping".
    assert_eq!(
        t.fmt(
            "{{range $p, $conf := .NetworkSettings.Ports}} {{$p}} -> {{with $conf}}{{(index . 0).HostPort}}{{else}}none{{end}} {{end}}",
            "web"
        ),
        format!(" 8787/tcp -> {port} ")
    );
    assert_eq!(
        t.fmt(
            r#"{{(index (index .NetworkSettings.Ports "8787/tcp") 0).HostPort}}"#,
            "web"
        ),
        port
    );
    // "Get a subsection in JSON format".
    let config: Value = serde_json::from_str(&t.fmt("{{json .Config}}", "web")).unwrap();
    assert_eq!(config, v["Config"]);

    // The issue's scripts.
    assert_eq!(t.fmt("{{len .Config.Cmd}}", "web"), "3");
    assert_eq!(t.fmt(r#"{{index .Config.Labels "x"}}"#, "web"), "1");
    assert_eq!(t.fmt(r#"{{join .Args " "}}"#, "job"), "hi there");
    assert_eq!(t.fmt(r#"{{join .Args " , "}}"#, "job"), "hi , there");
    assert_eq!(
        t.fmt(
            "{{if .State.Running}}up{{else}}{{.State.Status}}{{end}}",
            "job"
        ),
        "created"
    );

    // The template functions of docker's formatting guide.
    assert_eq!(t.fmt("{{lower .Name}}", "web"), "/web");
    assert_eq!(t.fmt("{{upper .Name}}", "web"), "/WEB");
    assert_eq!(t.fmt("{{title .Name}}", "web"), "/Web");
    assert_eq!(
        t.fmt("{{pad .Name 5 10}}", "web"),
        format!("     /web{}", " ".repeat(10))
    );
    let image = v["Image"].as_str().unwrap();
    assert_eq!(
        t.fmt(r#"{{split .Image ":"}}"#, "web"),
        format!("[{}]", image.replace(':', " "))
    );
    assert_eq!(
        t.fmt(
            "{{range .NetworkSettings.Networks}}{{println .IPAddress}}{{end}}",
            "web"
        ),
        format!("{ip}\n")
    );
    assert_eq!(
        t.fmt(
            r#"{{printf "%-6s|%5d" .State.Status .RestartCount}}"#,
            "web"
        ),
        "running|    0"
    );
    assert_eq!(t.fmt("{{.Config.Cmd}}", "web"), "[busybox sleep 60]");
    assert_eq!(t.fmt("{{.Config.Labels}}", "web"), "map[x:1]");

    // One line per object; `table` and `\t` are not special to inspect.
    assert_eq!(
        t.ok(&["inspect", "--format", "{{.Name}}", "web", "job"]),
        "/web\n/job\n"
    );
    assert_eq!(t.fmt(r"table {{.Name}}\t", "job"), r"table /job\t");
    // Image and volume inspect take templates too.
    assert_eq!(
        t.ok(&[
            "image",
            "inspect",
            "--format",
            "{{len .RepoTags}} {{index .RepoTags 0}}",
            "bb"
        ]),
        "1 bb:latest\n"
    );
    t.ok(&["volume", "create", "--label", "k=v", "fmt-vol"]);
    assert_eq!(
        t.ok(&[
            "volume",
            "inspect",
            "--format",
            r#"{{.Name}} {{index .Labels "k"}}"#,
            "fmt-vol"
        ]),
        "fmt-vol v\n"
    );
    t.ok(&["volume", "rm", "fmt-vol"]);
}

#[test]
fn bad_templates_fail_as_docker() {
    let t = T::new();
    t.ok(&["create", "--name", "job", "bb", "true"]);
    // A template that does not parse: one line, exit 125.
    for args in [
        &["inspect", "--format", "{{.Name", "job"][..],
        &["ps", "-a", "--format", "{{.Names"],
        &["images", "--format", "table {{.ID"],
    ] {
        let err = t.env.fails(args, 125);
        assert_eq!(
            err, "berth: template parsing error: template: :1: unclosed action\n",
            "{args:?}"
        );
    }
    let err = t.env.fails(&["ps", "--format", "{{range .Names}}"], 125);
    assert_eq!(
        err,
        "berth: template parsing error: template: :1: unexpected EOF\n"
    );
    let err = t.env.fails(&["images", "--format", "{{nope .ID}}"], 125);
    assert_eq!(
        err,
        "berth: template parsing error: template: :1: function \"nope\" not defined\n"
    );
    // A field the data lacks fails the operation (exit 1) in docker's words.
    let err = t.env.fails(&["ps", "-a", "--format", "{{.Nope}}"], 1);
    assert_eq!(
        err,
        "berth: template parsing error: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope\n"
    );
    let err = t.env.fails(&["inspect", "--format", "{{.Nope}}", "job"], 1);
    assert_eq!(
        err,
        "berth: template parsing error: template: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\"\n"
    );
}

#[test]
fn ps_formats_as_docker_documents() {
    let t = T::new();
    let a = t
        .ok(&[
            "create",
            "--name",
            "short",
            "-l",
            "com.example.node=ubuntu",
            "-l",
            "tier=db",
            "bb",
            "echo",
            "hi",
        ])
        .trim()[..12]
        .to_string();
    let b = t
        .ok(&[
            "create",
            "--name",
            "a-container-with-a-long-name",
            "bb",
            "true",
        ])
        .trim()[..12]
        .to_string();
    // Newest first, as docker.
    assert_eq!(
        t.ok(&["ps", "-a", "--format", "{{.ID}}: {{.Command}}"]),
        format!("{b}: \"true\"\n{a}: \"echo hi\"\n")
    );
    // "list all running containers with their labels in a table format".
    assert_eq!(
        t.ok(&["ps", "-a", "--format", r"table {{.ID}}\t{{.Labels}}"]),
        format!(
            "CONTAINER ID   LABELS\n\
             {b}   \n\
             {a}   com.example.node=ubuntu,tier=db\n"
        )
    );
    // Alignment: each column as wide as its widest cell plus 3, at least 10;
    // the last column is not padded.
    assert_eq!(
        t.ok(&[
            "ps",
            "-a",
            "--format",
            r"table {{.Names}}\t{{.State}}\t{{.Image}}"
        ]),
        "NAMES                          STATE     IMAGE\n\
         a-container-with-a-long-name   created   bb\n\
         short                          created   bb\n"
    );
    assert_eq!(
        t.ok(&[
            "ps",
            "-a",
            "-f",
            "name=short",
            "--format",
            r"table {{.Image}}\t{{.Names}}"
        ]),
        "IMAGE     NAMES\nbb        short\n"
    );
    // Functions and docker's header functions: the title stays as it is.
    assert_eq!(
        t.ok(&[
            "ps",
            "-a",
            "--format",
            r#"table {{upper .Names}}\t{{.Label "tier"}}\t{{len .Names}}"#,
        ]),
        // docker runs the header through the template too: `len` of the
        // title "NAMES" is 5.
        "NAMES                          LABEL     5\n\
         A-CONTAINER-WITH-A-LONG-NAME             28\n\
         SHORT                          db        5\n"
    );
    assert_eq!(
        t.ok(&[
            "ps",
            "-a",
            "--format",
            r#"{{if eq .Names "short"}}{{.Names}}{{else}}-{{end}}"#
        ]),
        "-\nshort\n"
    );
    // `table` alone is the default table; `json` is one object a line.
    let table = t.ok(&["ps", "-a", "--format", "table"]);
    assert!(
        table.starts_with("CONTAINER ID   IMAGE     COMMAND   "),
        "{table}"
    );
    let json = t.ok(&["ps", "-a", "--format", "json"]);
    let rows: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[1]["Names"], "short");
    assert_eq!(rows[1]["Labels"], "com.example.node=ubuntu,tier=db");
    // `{{json .}}` is the same object.
    let one = t.ok(&["ps", "-a", "-f", "name=short", "--format", "{{json .}}"]);
    let one: Value = serde_json::from_str(one.trim()).unwrap();
    assert_eq!(one["ID"], a.as_str());
}

#[test]
fn images_formats_as_docker_documents() {
    let t = T::new();
    t.ok(&["tag", "bb", "registry.example.com/team/postgres:9.3.5"]);
    let id = t.ok(&["images", "-q"]).lines().next().unwrap().to_string();
    assert_eq!(id.len(), 12);
    let rows = t.ok(&["images", "--format", "{{.ID}}: {{.Repository}}"]);
    let mut rows: Vec<&str> = rows.lines().collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            format!("{id}: bb"),
            format!("{id}: registry.example.com/team/postgres")
        ]
    );
    // "list all images with their repository and tag in a table format".
    let table = t.ok(&[
        "images",
        "--format",
        r"table {{.ID}}\t{{.Repository}}\t{{.Tag}}",
    ]);
    let mut lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines.remove(0),
        format!("IMAGE ID       {:<37}TAG", "REPOSITORY")
    );
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("{id}   {:<37}latest", "bb"),
            format!("{id}   registry.example.com/team/postgres   9.3.5"),
        ]
    );
    assert_eq!(
        t.ok(&[
            "images",
            "bb",
            "--format",
            "{{truncate .Repository 15}}|{{pad .Tag 1 1}}|"
        ]),
        "bb| latest |\n"
    );
    assert_eq!(
        t.ok(&[
            "images",
            "registry.example.com/team/postgres",
            "--format",
            "{{truncate .Repository 15}}"
        ]),
        "registry.exampl\n"
    );
    let img = t.ok(&["images", "bb", "--format", "json"]);
    let img: Value = serde_json::from_str(img.trim()).unwrap();
    assert_eq!(img["Repository"], "bb");
    // Image inspect: lists and the issue's scripts (no Cmd: json of nil is null).
    assert_eq!(
        t.ok(&[
            "image", "inspect", "--format",
            r#"{{len .RepoTags}} {{range $i, $t := .RepoTags}}{{if $i}},{{end}}{{$t}}{{end}} {{json .Config.Cmd}}"#,
            "bb",
        ]),
        "2 bb:latest,registry.example.com/team/postgres:9.3.5 null\n"
    );
}

#[test]
fn volume_and_network_lists_take_templates() {
    let t = T::new();
    for v in ["v1", "a-much-longer-volume-name"] {
        t.ok(&["volume", "create", v]);
    }
    let table = t.ok(&["volume", "ls", "--format", r"table {{.Name}}\t{{.Driver}}"]);
    let mut lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.remove(0), format!("{:<28}DRIVER", "VOLUME NAME"));
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("{:<28}local", "a-much-longer-volume-name"),
            format!("{:<28}local", "v1"),
        ]
    );
    assert_eq!(
        t.ok(&[
            "volume",
            "ls",
            "-f",
            "name=v1",
            "--format",
            "{{.Name}}:{{upper .Driver}}"
        ]),
        "v1:LOCAL\n"
    );
    for v in ["v1", "a-much-longer-volume-name"] {
        t.ok(&["volume", "rm", v]);
    }
    let nets = t.ok(&["network", "ls", "--format", r"table {{.Name}}\t{{.Driver}}"]);
    let width = nets
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().len() + 3)
        .max()
        .unwrap()
        .max(10);
    assert_eq!(
        nets.lines().next().unwrap(),
        format!("{:<width$}DRIVER", "NAME")
    );
    assert!(
        nets.lines()
            .any(|l| l == format!("{:<width$}bridge", "bridge")),
        "{nets}"
    );
    let bridge = t.ok(&[
        "network",
        "inspect",
        "--format",
        "{{json .Name}} {{.Driver}} {{.Scope}}",
        "bridge",
    ]);
    assert_eq!(bridge, "\"bridge\" bridge local\n");
}
