//! The system verbs. `system boot`: what podman-restart.service does, for
//! a daemonless engine: run once at boot (contrib/systemd/berth-boot.service),
//! it starts again the containers that were running when the machine went
//! down and whose restart policy asks for it ([`engine::Engine::boot`]).
//! `version`, `info`/`system info` and `system df` print the engine's typed
//! results ([`engine::system`]) as docker does.

use ::engine::system;
use serde::Serialize;
use serde_json::{json, Value};

use super::{out, out_raw, CmdResult};
use crate::cli::system::{DfArgs, InfoArgs, VersionArgs};
use crate::error::CliError;
use crate::template::Template;
use crate::Globals;

pub fn boot(g: &Globals) -> CmdResult {
    let eng = g.engine()?;
    let (started, errors) = eng.boot().map_err(|e| CliError::new(e.to_string()))?;
    for id in &started {
        out(id)?;
    }
    match errors.split_last() {
        None => Ok(()),
        Some((last, rest)) => {
            for e in rest {
                eprintln!("berth: {e}");
            }
            Err(CliError::new(last.to_string()))
        }
    }
}

// ---- version ----------------------------------------------------------------

/// The client half of `docker version` (docker's `clientVersion`): the
/// same program as the engine, so the same versions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ClientVersion {
    platform: system::PlatformInfo,
    version: String,
    #[serde(rename = "ApiVersion")]
    api_version: String,
    #[serde(rename = "DefaultAPIVersion")]
    default_api_version: String,
    git_commit: String,
    go_version: String,
    os: String,
    arch: String,
    build_time: String,
    context: String,
}

fn client_version(server: &system::Version) -> ClientVersion {
    ClientVersion {
        platform: server.platform.clone(),
        version: server.version.clone(),
        api_version: server.api_version.clone(),
        default_api_version: server.api_version.clone(),
        git_commit: server.git_commit.clone(),
        go_version: server.go_version.clone(),
        os: server.os.clone(),
        arch: server.arch.clone(),
        build_time: reformat_date(&server.build_time),
        context: "default".into(),
    }
}

/// A `--format` that cannot be parsed: docker's `version` exits 64.
fn version_template(f: &str) -> Result<Template, CliError> {
    Template::parse(f).map_err(|e| CliError {
        msg: format!("template parsing error: {e}"),
        code: 64,
    })
}

/// Renders `data` with a `--format` of `version`/`info` (`json`: the
/// whole object as JSON).
fn render_format(f: &str, data: &Value) -> CmdResult {
    if f == "json" {
        return out(&data.to_string());
    }
    let t = version_template(f)?;
    let text = t
        .render(data)
        .map_err(|e| CliError::new(format!("template parsing error: {e}")))?;
    out(&text)
}

/// docker's default `version` layout (its template through a tabwriter
/// of minimum width 20 and padding 1).
pub fn version_text(v: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let c = &v["Client"];
    let mut t = String::new();
    let name = s(&c["Platform"]["Name"]);
    t.push_str(&if name.is_empty() {
        "Client:\n".to_string()
    } else {
        format!("Client: {name}\n")
    });
    for (k, val) in [
        ("Version", s(&c["Version"])),
        ("API version", s(&c["ApiVersion"])),
        ("Rust version", s(&c["GoVersion"])),
        ("Git commit", s(&c["GitCommit"])),
        ("Built", s(&c["BuildTime"])),
        ("OS/Arch", format!("{}/{}", s(&c["Os"]), s(&c["Arch"]))),
        ("Context", s(&c["Context"])),
    ] {
        t.push_str(&format!(" {k}:\t{val}\n"));
    }
    let sv = &v["Server"];
    if !sv.is_null() {
        let name = s(&sv["Platform"]["Name"]);
        t.push_str(&if name.is_empty() {
            "\nServer:\n".to_string()
        } else {
            format!("\nServer: {name}\n")
        });
        for comp in sv["Components"].as_array().into_iter().flatten() {
            let d = &comp["Details"];
            t.push_str(&format!(" {}:\n", s(&comp["Name"])));
            if comp["Name"] == "Engine" {
                for (k, val) in [
                    ("Version", s(&comp["Version"])),
                    (
                        "API version",
                        format!(
                            "{} (minimum version {})",
                            s(&d["ApiVersion"]),
                            s(&d["MinAPIVersion"])
                        ),
                    ),
                    ("Rust version", s(&d["GoVersion"])),
                    ("Git commit", s(&d["GitCommit"])),
                    ("Built", s(&d["BuildTime"])),
                    ("OS/Arch", format!("{}/{}", s(&d["Os"]), s(&d["Arch"]))),
                    ("Experimental", s(&d["Experimental"])),
                ] {
                    t.push_str(&format!("  {k}:\t{val}\n"));
                }
            } else {
                t.push_str(&format!("  Version:\t{}\n", s(&comp["Version"])));
                // docker's getDetailsOrder: the details' keys sorted.
                if let Some(m) = d.as_object() {
                    let mut keys: Vec<&String> = m.keys().collect();
                    keys.sort();
                    for k in keys {
                        t.push_str(&format!("  {k}:\t{}\n", s(&m[k])));
                    }
                }
            }
        }
    }
    crate::fmt::tabwrite_with(&t, 20, 1)
}

/// What `version --format` sees (docker's `versionInfo`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct VersionInfo {
    client: ClientVersion,
    server: system::Version,
}

/// docker's `reformatDate`: an RFC 3339 build time in Go's ANSIC layout,
/// anything else as it is.
fn reformat_date(t: &str) -> String {
    match berth_util::time::parse_unix(t) {
        Some((secs, _)) => berth_util::time::ansic(secs),
        None => t.to_string(),
    }
}

pub fn version(a: VersionArgs) -> CmdResult {
    let mut server = system::version();
    for c in server.components.iter_mut().filter(|c| c.name == "Engine") {
        if let Some(b) = c.details.get_mut("BuildTime") {
            *b = reformat_date(b);
        }
    }
    let vi = VersionInfo {
        client: client_version(&server),
        server,
    };
    let mut v = serde_json::to_value(&vi).unwrap_or_default();
    // Templates name docker's Go fields (`{{.Client.APIVersion}}`), whose
    // JSON names differ (`ApiVersion`).
    for half in ["Client", "Server"] {
        if let Some(o) = v[half].as_object_mut() {
            if let Some(x) = o.get("ApiVersion").cloned() {
                o.insert("APIVersion".into(), x);
            }
        }
    }
    match a.format.as_deref() {
        None | Some("") => out_raw(&version_text(&v)),
        // In the structs' field order, as docker's `{{json .}}`.
        Some("json") => out(&serde_json::to_string(&vi).unwrap_or_default()),
        Some(f) => render_format(f, &v),
    }
}

// ---- info -------------------------------------------------------------------

/// docker's `docker info` layout of the server's half.
pub fn info_text(info: &system::Info) -> String {
    let mut o = String::new();
    let mut line = |s: String| {
        o.push_str(&s);
        o.push('\n');
    };
    let client = system::version();
    line("Client:".into());
    line(format!(" Version:    {}", client.version));
    line(" Context:    default".into());
    line(" Debug Mode: false".into());
    line(String::new());
    line("Server:".into());
    line(format!(" Containers: {}", info.containers));
    line(format!("  Running: {}", info.containers_running));
    line(format!("  Paused: {}", info.containers_paused));
    line(format!("  Stopped: {}", info.containers_stopped));
    line(format!(" Images: {}", info.images));
    line(format!(" Server Version: {}", info.server_version));
    line(format!(" Storage Driver: {}", info.driver));
    for [k, v] in &info.driver_status {
        line(format!("  {k}: {v}"));
    }
    line(format!(" Logging Driver: {}", info.logging_driver));
    line(format!(" Cgroup Driver: {}", info.cgroup_driver));
    line(format!(" Cgroup Version: {}", info.cgroup_version));
    line(" Plugins:".into());
    line(format!("  Volume: {}", info.plugins.volume.join(" ")));
    line(format!("  Network: {}", info.plugins.network.join(" ")));
    line(format!("  Log: {}", info.plugins.log.join(" ")));
    line(format!(" Swarm: {}", info.swarm.local_node_state));
    let runtimes: Vec<&str> = info.runtimes.keys().map(String::as_str).collect();
    line(format!(" Runtimes: {}", runtimes.join(" ")));
    line(format!(" Default Runtime: {}", info.default_runtime));
    line(format!(" Init Binary: {}", info.init_binary));
    if !info.security_options.is_empty() {
        line(" Security Options:".into());
        for so in &info.security_options {
            let mut name = "";
            let mut profile = None;
            for kv in so.split(',') {
                match kv.split_once('=') {
                    Some(("name", v)) => name = v,
                    Some(("profile", v)) => profile = Some(v),
                    _ => {}
                }
            }
            line(format!("  {name}"));
            if let Some(p) = profile {
                line(format!("   Profile: {p}"));
            }
        }
    }
    line(format!(" Kernel Version: {}", info.kernel_version));
    line(format!(" Operating System: {}", info.operating_system));
    line(format!(" OSType: {}", info.os_type));
    line(format!(" Architecture: {}", info.architecture));
    line(format!(" CPUs: {}", info.ncpu));
    line(format!(
        " Total Memory: {}",
        berth_util::size::bytes_size(info.mem_total)
    ));
    line(format!(" Name: {}", info.name));
    line(format!(" ID: {}", info.id));
    line(format!(" Docker Root Dir: {}", info.docker_root_dir));
    line(format!(" Debug Mode: {}", info.debug));
    for (k, v) in [
        ("HTTP Proxy", &info.http_proxy),
        ("HTTPS Proxy", &info.https_proxy),
        ("No Proxy", &info.no_proxy),
    ] {
        if !v.is_empty() {
            line(format!(" {k}: {v}"));
        }
    }
    if !info.labels.is_empty() {
        line(" Labels:".into());
        for l in &info.labels {
            line(format!("  {l}"));
        }
    }
    line(format!(" Experimental: {}", info.experimental_build));
    line(format!(
        " Live Restore Enabled: {}",
        info.live_restore_enabled
    ));
    line(String::new());
    o
}

/// The data `info --format` sees: the server's fields at the top (as
/// docker's), the client's under `ClientInfo`.
fn info_value(info: &system::Info) -> Value {
    let mut v = serde_json::to_value(info).unwrap_or_default();
    let client = client_version(&system::version());
    if let (Some(o), Ok(mut c)) = (v.as_object_mut(), serde_json::to_value(&client)) {
        c["Debug"] = false.into();
        c["Plugins"] = json!([]);
        c["Warnings"] = Value::Null;
        o.insert("ClientInfo".into(), c);
    }
    v
}

pub fn info(g: &Globals, a: InfoArgs) -> CmdResult {
    let eng = g.engine()?;
    let info = eng.info().map_err(|e| CliError::new(e.to_string()))?;
    match a.format.as_deref() {
        None | Some("") => {
            out_raw(&info_text(&info))?;
            for w in &info.warnings {
                eprintln!("{w}");
            }
            Ok(())
        }
        Some(f) => render_format(f, &info_value(&info)),
    }
}

// ---- system df --------------------------------------------------------------

const DF_TABLE: &str = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const DF_HEADERS: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];
const DF_IMAGES: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const DF_IMAGE_HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("ID", "IMAGE ID"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("Containers", "CONTAINERS"),
];
const DF_CONTAINERS: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
const DF_CONTAINER_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Size", "SIZE"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("Names", "NAMES"),
];
const DF_VOLUMES: &str = "table {{.Name}}\t{{.Links}}\t{{.Size}}";
const DF_VOLUME_HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
];
const DF_CACHE: &str = "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}";
const DF_CACHE_HEADERS: &[(&str, &str)] = &[
    ("ID", "CACHE ID"),
    ("CacheType", "CACHE TYPE"),
    ("Size", "SIZE"),
    ("CreatedSince", "CREATED"),
    ("LastUsedSince", "LAST USED"),
    ("UsageCount", "USAGE"),
    ("Shared", "SHARED"),
];

/// docker's RECLAIMABLE cell: `11.63MB (70%)` (no percentage of nothing,
/// none for the build cache).
fn reclaimable_text(u: &system::UsageSummary, percent: bool) -> String {
    let r = human(u.reclaimable);
    if percent && u.total_size > 0 {
        format!("{r} ({}%)", u.reclaimable * 100 / u.total_size)
    } else {
        r
    }
}

/// go-units' HumanSize (4 digits), `system df`'s sizes.
fn human(b: u64) -> String {
    berth_util::size::human_size(b)
}

/// The four summary rows of `system df`.
pub fn df_rows(du: &system::DiskUsage) -> Vec<Value> {
    [
        ("Images", &du.image_usage, true),
        ("Containers", &du.container_usage, true),
        ("Local Volumes", &du.volume_usage, true),
        ("Build Cache", &du.build_cache_usage, false),
    ]
    .into_iter()
    .map(|(t, u, pct)| {
        json!({
            "Active": u.active_count.to_string(),
            "Reclaimable": reclaimable_text(u, pct),
            "Size": human(u.total_size),
            "TotalCount": u.total_count.to_string(),
            "Type": t,
        })
    })
    .collect()
}

/// `-v`'s rows: images, containers, volumes, build cache.
pub fn df_verbose_rows(du: &system::DiskUsage, trunc: bool) -> [Vec<Value>; 4] {
    let images = du
        .images
        .iter()
        .map(|i| {
            let (repo, tag) = i
                .repo_tags
                .first()
                .and_then(|t| image::Reference::parse(t).ok())
                .and_then(|r| Some((r.familiar_name(), r.tag()?.to_string())))
                .unwrap_or_else(|| ("<none>".into(), "<none>".into()));
            let id = if trunc {
                ::engine::fsutil::short_id(&i.id).to_string()
            } else {
                i.id.clone()
            };
            let created = (i.created != 0).then_some(i.created as f64);
            json!({
                "Containers": i.containers.to_string(),
                "CreatedAt": created.map(crate::fmt::go_time).unwrap_or_default(),
                "CreatedSince": if i.created != 0 { crate::fmt::since(created) } else { String::new() },
                "Digest": "<none>",
                "ID": id,
                "Repository": repo,
                "SharedSize": human(i.shared_size),
                "Size": crate::fmt::human_size(i.size),
                "Tag": tag,
                "UniqueSize": human(i.size.saturating_sub(i.shared_size)),
                "VirtualSize": human(i.size),
            })
        })
        .collect();
    let containers = du
        .containers
        .iter()
        .map(|c| {
            let mut v = super::containers::row_value(&c.summary, !trunc);
            // docker's df does not show the virtual size.
            v["Size"] = crate::fmt::human_size(c.size_rw).into();
            v
        })
        .collect();
    let volumes = du
        .volumes
        .iter()
        .map(|v| {
            json!({
                "Driver": v.volume.driver,
                "Labels": v.volume.labels.iter().map(|(k, x)| format!("{k}={x}")).collect::<Vec<_>>().join(","),
                "Links": v.usage_data.ref_count.to_string(),
                "Mountpoint": v.volume.mountpoint,
                "Name": v.volume.name,
                "Scope": v.volume.scope,
                "Size": human(v.usage_data.size),
            })
        })
        .collect();
    let cache = du
        .build_cache
        .iter()
        .map(|b| {
            let t = |s: &str| berth_util::time::parse_unix(s).map(|(secs, _)| secs as f64);
            let created = t(&b.created_at);
            let used = b.last_used_at.as_deref().and_then(t);
            json!({
                "ID": b.id,
                "CacheType": b.kind,
                "Size": human(b.size),
                "CreatedAt": created.map(crate::fmt::go_time).unwrap_or_default(),
                "CreatedSince": crate::fmt::since(created),
                "LastUsedAt": used.map(crate::fmt::go_time).unwrap_or_default(),
                "LastUsedSince": if used.is_some() { crate::fmt::since(used) } else { String::new() },
                "UsageCount": b.usage_count.to_string(),
                "InUse": b.in_use.to_string(),
                "Shared": b.shared.to_string(),
            })
        })
        .collect();
    [images, containers, volumes, cache]
}

/// `system df -v` as docker's tables.
pub fn df_verbose_text(du: &system::DiskUsage) -> Result<String, CliError> {
    let [images, containers, volumes, cache] = df_verbose_rows(du, true);
    let table = |f: &str, h: &[(&str, &str)], rows: &[Value]| {
        crate::template::Format::parse(f)
            .and_then(|t| t.list(h, rows))
            .map_err(|e| CliError::new(format!("template parsing error: {e}")))
    };
    let mut s = String::from("Images space usage:\n\n");
    s.push_str(&table(DF_IMAGES, DF_IMAGE_HEADERS, &images)?);
    s.push_str("\nContainers space usage:\n\n");
    s.push_str(&table(DF_CONTAINERS, DF_CONTAINER_HEADERS, &containers)?);
    s.push_str("\nLocal Volumes space usage:\n\n");
    s.push_str(&table(DF_VOLUMES, DF_VOLUME_HEADERS, &volumes)?);
    s.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        human(du.build_cache_usage.total_size)
    ));
    s.push_str(&table(DF_CACHE, DF_CACHE_HEADERS, &cache)?);
    Ok(s)
}

pub fn df(g: &Globals, a: DfArgs) -> CmdResult {
    let eng = g.engine()?;
    let du = build_run::prune::disk_usage(&eng).map_err(|e| CliError::new(e.to_string()))?;
    if !a.verbose {
        let format = super::list_format(a.format.as_deref(), DF_TABLE)?;
        return super::print_list(&format, DF_HEADERS, &df_rows(&du));
    }
    match a.format.as_deref() {
        None | Some("") | Some("table") => out_raw(&df_verbose_text(&du)?),
        Some(f) => {
            let [images, containers, volumes, cache] = df_verbose_rows(&du, false);
            let data = json!({
                "Images": images, "Containers": containers,
                "Volumes": volumes, "BuildCache": cache,
            });
            if f == "json" {
                return out(&data.to_string());
            }
            let t = Template::parse(f).map_err(super::template_err)?;
            let text = t
                .render(&data)
                .map_err(|e| CliError::new(format!("template parsing error: {e}")))?;
            out(&text)
        }
    }
}

/// `system service`: the Docker Engine API on a socket (crates/api), until
/// idle for `--time` seconds (0: never), SIGINT or SIGTERM. A socket
/// passed by systemd (socket activation) wins over the URI.
pub fn service(g: &Globals, a: crate::cli::system::ServiceArgs) -> CmdResult {
    let err = |e: berth_api::Error| CliError::daemon(e.to_string());
    let files = tls_files(&a)?;
    let activated = berth_api::activated().map_err(err)?;
    // The address is checked before the certificates are read.
    let ep = match &activated {
        Some(_) => None,
        None => {
            let uri = a.uri.as_deref().unwrap_or(berth_api::DEFAULT_URI);
            let verify = files.as_ref().map(|f| f.verify);
            Some(berth_api::Endpoint::parse(uri, verify).map_err(err)?)
        }
    };
    let tls = files.map(|f| f.load()).transpose().map_err(err)?;
    let listener = match (activated, ep) {
        (Some(l), _) => l,
        (None, Some(ep)) => {
            if let berth_api::Endpoint::Tcp(addr) = &ep {
                match (&tls, a.tlsverify) {
                    (None, _) => eprintln!(
                        "berth: WARNING: serving the API on tcp://{addr} without TLS: every local user and program that can reach this port gets root on this machine"
                    ),
                    (Some(_), false) => eprintln!(
                        "berth: WARNING: serving the API on tcp://{addr} with --tls but without --tlsverify: clients are not checked, every local user and program that can reach this port gets root on this machine"
                    ),
                    (Some(_), true) => {}
                }
            }
            berth_api::bind(&ep).map_err(err)?
        }
        (None, None) => unreachable!("an endpoint is parsed when no socket was passed"),
    };
    let eng = g.engine()?;
    if g.debug {
        eprintln!("berth: debug: API listening on {}", listener.describe());
    }
    let opts = berth_api::ServeOptions {
        idle: (a.time > 0).then(|| std::time::Duration::from_secs(a.time)),
        tls,
    };
    berth_api::serve(eng, listener, opts).map_err(err)
}

/// docker's daemon flags: `--tlsverify` implies `--tls`; both need
/// `--tlscert` and `--tlskey`, `--tlsverify` also `--tlscacert`.
fn tls_files(a: &crate::cli::system::ServiceArgs) -> Result<Option<berth_api::TlsFiles>, CliError> {
    if !a.tls && !a.tlsverify {
        if a.tlscacert.is_some() || a.tlscert.is_some() || a.tlskey.is_some() {
            return Err(CliError::new(
                "--tlscacert, --tlscert and --tlskey need --tls or --tlsverify",
            ));
        }
        return Ok(None);
    }
    let need = |v: &Option<std::path::PathBuf>, flag: &str| {
        v.clone()
            .ok_or_else(|| CliError::new(format!("{flag} is required with --tls and --tlsverify")))
    };
    let files = berth_api::TlsFiles {
        cert: need(&a.tlscert, "--tlscert")?,
        key: need(&a.tlskey, "--tlskey")?,
        ca: if a.tlsverify {
            Some(need(&a.tlscacert, "--tlscacert")?)
        } else {
            a.tlscacert.clone()
        },
        verify: a.tlsverify,
    };
    Ok(Some(files))
}
