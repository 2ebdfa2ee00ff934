//! Loading a project as docker compose v2 does: which files, which
//! environment, which name; then compose-go's pipeline per file
//! (interpolate, extends, `!reset`, include, merge, canonical form), the
//! normalisation, the typed model, profiles and consistency checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path as FsPath, PathBuf};

use serde_json::{Map, Value};

use crate::tree::{self, Document};
use crate::types::*;
use crate::{dotenv, interp, transform, Error};

/// What a face asks for (docker compose's global flags and `config`'s).
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// `-f` (several, merged in order); `-` is not supported.
    pub files: Vec<PathBuf>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--env-file` (several); when none, COMPOSE_ENV_FILES of `os_env`.
    pub env_files: Vec<PathBuf>,
    /// `--profile`.
    pub profiles: Vec<String>,
    /// Services named on the command line (enables their profiles).
    pub services: Vec<String>,
    /// Services named on the command line whose profiles are enabled without
    /// selecting them (compose v2's `ToProject`: `WithServicesEnabled`).
    pub enable_services: Vec<String>,
    /// `--no-interpolate` clears it.
    pub interpolate: bool,
    /// `--no-normalize` clears it.
    pub normalize: bool,
    /// Fill `environment` from `env_file`s and drop them (config does;
    /// `--hash` does not).
    pub resolve_env_files: bool,
    /// `--no-consistency` clears it.
    pub consistency: bool,
    /// `config --no-path-resolution` clears it: relative paths kept (those
    /// of an extended file's service rebased on the extending file's
    /// directory, as compose-go does).
    pub resolve_paths: bool,
    /// Drop networks, volumes, secrets, configs no service uses.
    pub without_unnecessary_resources: bool,
    /// The process environment (tests pass their own).
    pub os_env: BTreeMap<String, String>,
    /// The current directory.
    pub cwd: PathBuf,
}

impl LoadOptions {
    /// Defaults from the process: its environment and working directory.
    pub fn from_process() -> Self {
        LoadOptions {
            files: Vec::new(),
            project_directory: None,
            project_name: None,
            env_files: Vec::new(),
            profiles: Vec::new(),
            services: Vec::new(),
            enable_services: Vec::new(),
            interpolate: true,
            normalize: true,
            resolve_env_files: true,
            consistency: true,
            resolve_paths: true,
            without_unnecessary_resources: true,
            os_env: std::env::vars().collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        }
    }
}

/// A loaded project and the warnings compose would have printed.
#[derive(Debug)]
pub struct Loaded {
    pub project: Project,
    pub warnings: Vec<String>,
}

pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
pub const OVERRIDE_FILES: &[&str] = &[
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

fn s(p: &FsPath) -> String {
    p.to_string_lossy().into_owned()
}

fn abs(cwd: &FsPath, p: &FsPath) -> PathBuf {
    transform::absolute(&cwd.join(p))
}

/// docker's project name rule: lowercase, `[a-z0-9_-]`, no leading `_`/`-`.
pub fn normalize_project_name(s: &str) -> String {
    let l: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    l.trim_start_matches(['_', '-']).to_string()
}

fn invalid_name(v: &str) -> Error {
    Error::new(format!(
        "invalid project name {v:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
    ))
}

struct Ctx<'a> {
    opts: &'a LoadOptions,
    env: BTreeMap<String, String>,
    warnings: Vec<String>,
}

/// `dir` relative to `from` (both absolute), `.` when they are the same.
fn relative_dir(dir: &str, from: &str) -> String {
    let d: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    let f: Vec<&str> = from.split('/').filter(|c| !c.is_empty()).collect();
    let common = d.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; f.len() - common];
    parts.extend(&d[common..]);
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Per-load switches (extends and include load with some steps off).
#[derive(Clone, Copy)]
struct Steps {
    interpolate: bool,
    extends: bool,
    include: bool,
    validate: bool,
    defaults: bool,
    resolve_paths: bool,
}

/// The merged, normalised model before typing (what `config
/// --no-interpolate` prints).
pub struct Model {
    pub dict: Map<String, Value>,
    pub name: String,
    pub working_dir: String,
    pub files: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

/// Loads the merged model of the project `opts` describes.
pub fn load_model(opts: &LoadOptions) -> Result<Model, Error> {
    let cwd = &opts.cwd;
    let mut env: BTreeMap<String, String> = opts.os_env.clone();
    env.entry("PWD".into()).or_insert_with(|| s(cwd));
    let mut warnings = Vec::new();

    let working_dir_of = |files: &[PathBuf]| -> PathBuf {
        if let Some(d) = &opts.project_directory {
            return abs(cwd, d);
        }
        match files.first() {
            Some(f) => abs(cwd, f)
                .parent()
                .map(|p| p.to_path_buf())
                .unwrap_or_else(|| cwd.clone()),
            None => cwd.clone(),
        }
    };
    let env_files_for =
        |wd: &FsPath, env: &BTreeMap<String, String>| -> Result<Vec<String>, Error> {
            if !opts.env_files.is_empty() {
                return Ok(opts.env_files.iter().map(|f| s(&abs(cwd, f))).collect());
            }
            // compose v2: `--env-file`'s default is COMPOSE_ENV_FILES from the
            // process environment, split at commas (empty parts dropped)
            if let Some(v) = opts.os_env.get("COMPOSE_ENV_FILES") {
                let listed: Vec<String> = v
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(|f| s(&abs(cwd, FsPath::new(f))))
                    .collect();
                if !listed.is_empty() {
                    return Ok(listed);
                }
            }
            if let Some(v) = env.get("COMPOSE_DISABLE_ENV_FILE") {
                if interp::to_bool(v).unwrap_or(false) {
                    return Ok(Vec::new());
                }
            }
            let d = wd.join(".env");
            Ok(if d.is_file() { vec![s(&d)] } else { Vec::new() })
        };
    let merge_dotenv =
        |env: &mut BTreeMap<String, String>, files: &[String]| -> Result<(), Error> {
            for (k, v) in dotenv::env_from_files(env, files)? {
                env.entry(k).or_insert(v);
            }
            Ok(())
        };

    // First pass: the environment as seen from the directory we start in.
    let mut files: Vec<PathBuf> = opts.files.iter().map(|f| abs(cwd, f)).collect();
    let wd = working_dir_of(&files);
    let ef = env_files_for(&wd, &env)?;
    merge_dotenv(&mut env, &ef)?;
    if files.is_empty() {
        if let Some(cf) = env.get("COMPOSE_FILE").filter(|v| !v.is_empty()) {
            let sep = env
                .get("COMPOSE_PATH_SEPARATOR")
                .cloned()
                .unwrap_or_else(|| ":".into());
            files = cf
                .split(sep.as_str())
                .map(|f| abs(&wd, FsPath::new(f)))
                .collect();
        }
    }
    if files.is_empty() {
        let mut dir = wd.clone();
        loop {
            let found: Vec<PathBuf> = DEFAULT_FILES
                .iter()
                .map(|n| dir.join(n))
                .filter(|p| p.exists())
                .collect();
            if let Some(first) = found.first() {
                if found.len() > 1 {
                    warnings.push(format!(
                        "Found multiple config files with supported names: {}",
                        found.iter().map(|p| s(p)).collect::<Vec<_>>().join(", ")
                    ));
                    warnings.push(format!("Using {}", s(first)));
                }
                files.push(first.clone());
                if let Some(o) = OVERRIDE_FILES
                    .iter()
                    .map(|n| dir.join(n))
                    .find(|p| p.exists())
                {
                    files.push(o);
                }
                break;
            }
            match dir.parent() {
                Some(p) => dir = p.to_path_buf(),
                None => break,
            }
        }
    }
    if files.is_empty() {
        return Err(Error::new("no configuration file provided: not found"));
    }
    for f in &files {
        if !f.exists() {
            return Err(Error::new(format!(
                "open {}: no such file or directory",
                s(f)
            )));
        }
    }
    // Second pass: from the project's directory.
    let wd = working_dir_of(&files);
    let ef = env_files_for(&wd, &env)?;
    merge_dotenv(&mut env, &ef)?;

    let mut cx = Ctx {
        opts,
        env,
        warnings,
    };
    let contents: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .map(|c| (s(f), c))
                .map_err(|e| Error::new(format!("failed to read {}: {e}", s(f))))
        })
        .collect::<Result<_, _>>()?;

    // The project's name.
    let name = project_name(&mut cx, &contents, &wd)?;
    cx.env.insert("COMPOSE_PROJECT_NAME".into(), name.clone());

    let steps = Steps {
        interpolate: opts.interpolate,
        extends: true,
        include: true,
        validate: true,
        defaults: true,
        resolve_paths: opts.resolve_paths,
    };
    let mut dict = load_yaml_model(&mut cx, &contents, &s(&wd), steps, &[])?;
    if dict.is_empty() {
        return Err(Error::new("empty compose file"));
    }
    if opts.normalize {
        dict.insert("name".into(), Value::String(name.clone()));
        let env = cx.env.clone();
        transform::normalize(&mut dict, &|k| env.get(k).cloned());
    }
    Ok(Model {
        dict,
        name,
        working_dir: s(&wd),
        files: contents.iter().map(|(f, _)| f.clone()).collect(),
        environment: cx.env,
        warnings: cx.warnings,
    })
}

/// Loads the project `opts` describes.
pub fn load(opts: &LoadOptions) -> Result<Loaded, Error> {
    let Model {
        dict,
        name,
        working_dir,
        files,
        environment,
        warnings,
    } = load_model(opts)?;
    let mut cx = Ctx {
        opts,
        env: environment,
        warnings,
    };
    let mut project = to_project(&mut cx, dict, &name, &working_dir)?;
    project.compose_files = files;

    // Profiles: --profile, else COMPOSE_PROFILES; services named enable theirs.
    let mut profiles = opts.profiles.clone();
    if profiles.is_empty() {
        profiles = cx
            .env
            .get("COMPOSE_PROFILES")
            .map(|v| v.split(',').map(|p| p.trim().to_string()).collect())
            .unwrap_or_default();
    }
    with_profiles(&mut project, &profiles);
    if !opts.enable_services.is_empty() || !opts.services.is_empty() {
        let mut extra = profiles.clone();
        for n in opts.enable_services.iter().chain(&opts.services) {
            if !project.services.contains_key(n) {
                match project.disabled_services.get(n) {
                    Some(d) => extra.extend(d.profiles.clone()),
                    None => return Err(Error::new(format!("no such service: {n}"))),
                }
            }
        }
        with_profiles(&mut project, &extra);
    }
    if opts.consistency {
        check_consistency(&project)?;
    }
    if opts.resolve_env_files {
        resolve_services_environment(&mut project, true)?;
    }
    resolve_label_files(&mut project)?;
    if !opts.services.is_empty() {
        select_services(&mut project, &opts.services)?;
    }
    if opts.without_unnecessary_resources {
        without_unnecessary_resources(&mut project);
    }
    Ok(Loaded {
        project,
        warnings: cx.warnings,
    })
}

fn project_name(cx: &mut Ctx, contents: &[(String, String)], wd: &FsPath) -> Result<String, Error> {
    let opts = cx.opts;
    if let Some(n) = opts.project_name.as_ref().filter(|n| !n.is_empty()) {
        if normalize_project_name(n) != *n {
            return Err(invalid_name(n));
        }
        return Ok(n.clone());
    }
    if let Some(n) = cx.env.get("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()) {
        if normalize_project_name(n) != *n {
            return Err(invalid_name(n));
        }
        return Ok(n.clone());
    }
    let mut from_yaml = String::new();
    for (f, c) in contents {
        if let Ok(docs) = tree::parse_yaml(f, c) {
            for d in docs {
                if let Some(Value::String(n)) = d.value.get("name") {
                    if !n.is_empty() {
                        from_yaml = n.clone();
                    }
                }
            }
        }
    }
    if !from_yaml.is_empty() {
        if opts.interpolate {
            let env = cx.env.clone();
            from_yaml = crate::template::substitute(&from_yaml, &|k| env.get(k).cloned())
                .map_err(|e| Error::new(format!("error while interpolating name: {e}")))?;
        }
        if opts.normalize {
            from_yaml = normalize_project_name(&from_yaml);
        }
        if !from_yaml.is_empty() {
            return Ok(from_yaml);
        }
    }
    let base = wd
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = normalize_project_name(&base);
    if n.is_empty() {
        return Err(Error::new(
            "project name can't be empty. Use `--project-name` to set a valid name",
        ));
    }
    Ok(n)
}

type Dict = Map<String, Value>;

fn load_yaml_model(
    cx: &mut Ctx,
    contents: &[(String, String)],
    wd: &str,
    steps: Steps,
    included: &[String],
) -> Result<Dict, Error> {
    let mut dict = Value::Object(Map::new());
    for (file, content) in contents {
        load_yaml_file(
            cx,
            file,
            content,
            wd,
            steps,
            &mut dict,
            included,
            &mut ExtendsTracker::default(),
        )?;
    }
    let Value::Object(mut dict) = dict else {
        unreachable!("a mapping")
    };
    if steps.defaults {
        let mut v = Value::Object(std::mem::take(&mut dict));
        transform::set_defaults(&mut v, &mut Vec::new());
        let Value::Object(d) = v else {
            unreachable!("a mapping")
        };
        dict = d;
    }
    let mut v = Value::Object(dict);
    if steps.resolve_paths {
        transform::resolve_relative_paths(&mut v, wd)?;
    }
    let env = cx.env.clone();
    transform::resolve_environment(&mut v, &|k| env.get(k).cloned());
    let Value::Object(dict) = v else {
        unreachable!("a mapping")
    };
    Ok(dict)
}

#[allow(clippy::too_many_arguments)]
fn load_yaml_file(
    cx: &mut Ctx,
    file: &str,
    content: &str,
    wd: &str,
    steps: Steps,
    dict: &mut Value,
    included: &[String],
    tracker: &mut ExtendsTracker,
) -> Result<Vec<String>, Error> {
    let docs = tree::parse_yaml(file, content)?;
    let mut last_resets = Vec::new();
    for Document { value, resets } in docs {
        let Value::Object(_) = value else {
            return Err(Error::new(format!(
                "{file}: top-level object must be a mapping"
            )));
        };
        let mut cfg = value;
        if steps.interpolate {
            let env = cx.env.clone();
            let mut warns = Vec::new();
            interp::interpolate(&mut cfg, &|k| env.get(k).cloned(), &mut |w| warns.push(w))
                .map_err(|e| e.in_file(file))?;
            for w in warns {
                if !cx.warnings.contains(&w) {
                    cx.warnings.push(w);
                }
            }
        }
        if steps.extends {
            apply_extends(cx, &mut cfg, file, steps, tracker, &resets)?;
        }
        tree::apply_resets(dict, &resets);
        if steps.include {
            let mut inc = included.to_vec();
            inc.push(file.to_string());
            apply_include(cx, &mut cfg, wd, &inc)?;
        }
        let d = std::mem::take(dict);
        let (Value::Object(d), Value::Object(c)) = (d, cfg) else {
            unreachable!("mappings")
        };
        let merged = transform::merge_mappings(d, c, &[]).map_err(|e| e.in_file(file))?;
        let mut merged = Value::Object(merged);
        transform::enforce_unicity(&mut merged, &mut Vec::new()).map_err(|e| e.in_file(file))?;
        if steps.validate {
            validate_schema(&merged, file)?;
            if let Value::Object(m) = &mut merged {
                if m.remove("version").is_some() {
                    cx.warnings.push(format!(
                        "{file}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion"
                    ));
                }
            }
        }
        let mut merged = transform::canonical(merged, &mut Vec::new(), !steps.interpolate)
            .map_err(|e| e.in_file(file))?;
        transform::omit_empty(&mut merged);
        transform::enforce_unicity(&mut merged, &mut Vec::new()).map_err(|e| e.in_file(file))?;
        *dict = merged;
        last_resets = resets;
    }
    Ok(last_resets)
}

// ---------------------------------------------------------------- extends

#[derive(Default, Clone)]
struct ExtendsTracker {
    loaded: Vec<(String, String)>,
}

impl ExtendsTracker {
    fn add(&self, file: &str, service: &str) -> Result<ExtendsTracker, Error> {
        let to_add = (file.to_string(), service.to_string());
        if self.loaded.contains(&to_add) {
            let mut lines = vec![
                "Circular reference:".to_string(),
                format!("  {} in {}", self.loaded[0].1, self.loaded[0].0),
            ];
            for (f, s) in self.loaded[1..].iter().chain(std::iter::once(&to_add)) {
                lines.push(format!("  extends {s} in {f}"));
            }
            return Err(Error::new(lines.join("\n")));
        }
        let mut n = self.clone();
        n.loaded.push(to_add);
        Ok(n)
    }
}

fn apply_extends(
    cx: &mut Ctx,
    cfg: &mut Value,
    file: &str,
    steps: Steps,
    tracker: &mut ExtendsTracker,
    resets: &[String],
) -> Result<(), Error> {
    let Some(services) = cfg.get_mut("services") else {
        return Ok(());
    };
    let Value::Object(services) = services else {
        return Err(Error::new(format!("{file}: services must be a mapping")));
    };
    let names: Vec<String> = services.keys().cloned().collect();
    for name in names {
        let merged = service_extends(cx, &name, services, file, steps, tracker, resets)?;
        if let Some(m) = merged {
            services.insert(name, m);
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn service_extends(
    cx: &mut Ctx,
    name: &str,
    services: &mut Map<String, Value>,
    file: &str,
    steps: Steps,
    tracker: &ExtendsTracker,
    post: &[String],
) -> Result<Option<Value>, Error> {
    let Some(sv) = services.get(name) else {
        return Ok(None);
    };
    if sv.is_null() {
        return Ok(None);
    }
    let Value::Object(service) = sv else {
        return Err(Error::new(format!("services.{name} must be a mapping")));
    };
    let Some(ext) = service.get("extends") else {
        return Ok(Some(sv.clone()));
    };
    let (reference, ext_file) = match ext {
        Value::Object(m) => match m.get("service") {
            Some(Value::String(r)) => (r.clone(), m.get("file").map(tree::sprint)),
            _ => return Err(Error::new(format!("extends.{name}.service is required"))),
        },
        Value::String(r) => (r.clone(), None),
        _ => {
            return Err(Error::new(format!(
                "services.{name}.extends must be a string or a mapping"
            )))
        }
    };
    let service = service.clone();
    let mut filename = file.to_string();
    let mut base_services;
    let services_ref: &mut Map<String, Value>;
    let mut processor: Vec<String> = Vec::new();
    if let Some(ref_file) = ext_file {
        let dir = FsPath::new(file).parent().map(s).unwrap_or_default();
        let local = transform::join(&dir, &ref_file);
        let local = if ref_file.starts_with('/') {
            ref_file.clone()
        } else {
            local
        };
        let content = std::fs::read_to_string(&local)
            .map_err(|e| Error::new(format!("cannot read {local}: {e}")))?;
        let mut sub = Value::Object(Map::new());
        let sub_steps = Steps {
            interpolate: steps.interpolate,
            extends: false,
            include: false,
            validate: false,
            defaults: false,
            resolve_paths: false,
        };
        processor = load_yaml_file(
            cx,
            &local,
            &content,
            &dir,
            sub_steps,
            &mut sub,
            &[],
            &mut tracker.clone(),
        )?;
        let local_dir = FsPath::new(&local).parent().map(s).unwrap_or_default();
        let Some(Value::Object(m)) = sub.get("services") else {
            return Err(Error::new(format!(
                "cannot extend service {name:?} in {local}: no services section"
            )));
        };
        if !m.contains_key(&reference) {
            return Err(Error::new(format!(
                "cannot extend service {name:?} in {file}: service {reference:?} not found in {ref_file}"
            )));
        }
        // compose-go: the extended file's paths against its directory as
        // the extending file reaches it (relative when paths stay relative)
        let base = if cx.opts.resolve_paths {
            local_dir
        } else {
            relative_dir(&local_dir, &dir)
        };
        transform::resolve_relative_paths(&mut sub, &base)?;
        let Some(Value::Object(m)) = sub.get("services").cloned() else {
            unreachable!("checked")
        };
        base_services = m;
        services_ref = &mut base_services;
        filename = local;
    } else {
        if !services.contains_key(&reference) {
            return Err(Error::new(format!(
                "cannot extend service {name:?} in {file}: service {reference:?} not found"
            )));
        }
        services_ref = services;
    }
    let tracker = tracker.add(&filename, name)?;
    let base = service_extends(
        cx,
        &reference,
        services_ref,
        &filename,
        steps,
        &tracker,
        &processor,
    )?;
    let Some(base) = base else {
        return Ok(Some(Value::Object(service)));
    };
    let mut source = base;
    // the extending file's `!reset`s apply to what it inherits
    let mut wrapped = serde_json::json!({ "services": { name: source } });
    tree::apply_resets(&mut wrapped, post);
    source = wrapped["services"][name].take();
    let mut merged = transform::merge(
        source,
        Value::Object(service),
        &["services".into(), "x".into()],
    )?;
    if let Value::Object(m) = &mut merged {
        m.remove("extends");
    }
    services.insert(name.to_string(), merged.clone());
    Ok(Some(merged))
}

// ---------------------------------------------------------------- include

fn apply_include(
    cx: &mut Ctx,
    cfg: &mut Value,
    wd: &str,
    included: &[String],
) -> Result<(), Error> {
    let Value::Object(model) = cfg else {
        return Ok(());
    };
    let Some(inc) = model.remove("include") else {
        return Ok(());
    };
    let Value::Array(list) = inc else {
        return Err(Error::new(format!(
            "`include` must be a list, got {}",
            tree::sprint(&inc)
        )));
    };
    for (i, entry) in list.into_iter().enumerate() {
        let entry = match entry {
            Value::String(p) => serde_json::json!({ "path": [p] }),
            Value::Object(mut m) => {
                if let Some(Value::String(p)) = m.get("path").cloned() {
                    m.insert("path".into(), Value::Array(vec![Value::String(p)]));
                }
                if let Some(Value::String(p)) = m.get("env_file").cloned() {
                    m.insert("env_file".into(), Value::Array(vec![Value::String(p)]));
                }
                for k in m.keys() {
                    if !matches!(k.as_str(), "path" | "env_file" | "project_directory")
                        && !k.starts_with("x-")
                    {
                        return Err(Error::new(format!(
                            "include[{i}]: additional properties '{k}' not allowed"
                        )));
                    }
                }
                Value::Object(m)
            }
            o => {
                return Err(Error::new(format!(
                    "include[{i}]: invalid entry {}",
                    tree::sprint(&o)
                )))
            }
        };
        let paths: Vec<String> = entry
            .get("path")
            .and_then(|p| p.as_array())
            .map(|a| a.iter().map(tree::sprint).collect())
            .unwrap_or_default();
        if paths.is_empty() {
            return Err(Error::new(format!("include[{i}]: path is required")));
        }
        let mut project_dir = entry
            .get("project_directory")
            .map(tree::sprint)
            .unwrap_or_default();
        let resolved: Vec<String> = paths
            .iter()
            .map(|p| transform::expand_user(p))
            .map(|p| {
                if p.starts_with('/') {
                    p
                } else {
                    transform::join(wd, &p)
                }
            })
            .collect();
        let main = &resolved[0];
        let rel_wd;
        if project_dir.is_empty() {
            project_dir = FsPath::new(main).parent().map(s).unwrap_or_default();
            rel_wd = project_dir.clone();
        } else if !project_dir.starts_with('/') {
            project_dir = transform::join(wd, &project_dir);
            rel_wd = project_dir.clone();
        } else {
            rel_wd = project_dir.clone();
        }
        if included.contains(main) {
            let mut chain = included.to_vec();
            chain.push(main.clone());
            return Err(Error::new(format!(
                "include cycle detected:\n{}\n include {}",
                chain[0],
                chain[1..].join("\n include ")
            )));
        }
        let env_files: Vec<String> = match entry.get("env_file").and_then(|e| e.as_array()) {
            Some(a) if !a.is_empty() => {
                let mut out = Vec::new();
                for f in a {
                    let f = tree::sprint(f);
                    let f = if f.starts_with('/') {
                        f
                    } else {
                        transform::join(wd, &f)
                    };
                    if !FsPath::new(&f).is_file() {
                        return Err(Error::new(format!("{f} is not a file")));
                    }
                    out.push(f);
                }
                out
            }
            _ => {
                let f = transform::join(&project_dir, ".env");
                if FsPath::new(&f).is_file() {
                    vec![f]
                } else {
                    Vec::new()
                }
            }
        };
        let from_file = dotenv::env_from_files(&cx.env, &env_files)?;
        let saved = cx.env.clone();
        for (k, v) in from_file {
            cx.env.entry(k).or_insert(v);
        }
        let contents: Vec<(String, String)> = resolved
            .iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .map(|c| (f.clone(), c))
                    .map_err(|e| Error::new(format!("failed to read included file {f}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let steps = Steps {
            interpolate: cx.opts.interpolate,
            extends: true,
            include: true,
            validate: true,
            defaults: true,
            resolve_paths: true,
        };
        let imported = load_yaml_model(cx, &contents, &rel_wd, steps, included);
        cx.env = saved;
        let imported = imported?;
        for key in [
            "services", "volumes", "networks", "secrets", "configs", "models",
        ] {
            let Some(Value::Object(from)) = imported.get(key) else {
                continue;
            };
            let to = model
                .entry(key.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if to.is_null() {
                *to = Value::Object(Map::new());
            }
            let Value::Object(to) = to else { continue };
            for (n, a) in from {
                if let Some(c) = to.get(n) {
                    if c == a {
                        continue;
                    }
                    return Err(Error::new(format!(
                        "{key}.{n} conflicts with imported resource"
                    )));
                }
                to.insert(n.clone(), a.clone());
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- schema

const SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "build",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_shares",
    "cpu_quota",
    "cpu_period",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "label_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "network_mode",
    "models",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "security_opt",
    "shm_size",
    "secrets",
    "sysctls",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "uts",
    "userns_mode",
    "volumes",
    "volumes_from",
    "working_dir",
    "provider",
    "log_driver",
    "log_opt",
    "net",
    "dockerfile",
];
const TOP_KEYS: &[&str] = &[
    "version", "name", "include", "services", "models", "networks", "volumes", "secrets", "configs",
];

/// The checks of compose-spec.json that give the user's mistakes a clear
/// message (unknown keys, wrong shapes); the typed decoding checks the rest.
fn validate_schema(v: &Value, file: &str) -> Result<(), Error> {
    let Value::Object(top) = v else { return Ok(()) };
    let bad = |path: &str, what: String| Error::new(format!("validating {file}: {path} {what}"));
    for k in top.keys() {
        if !TOP_KEYS.contains(&k.as_str()) && !k.starts_with("x-") {
            return Err(bad(
                "(root)",
                format!("additional properties '{k}' not allowed"),
            ));
        }
    }
    if let Some(services) = top.get("services") {
        let Value::Object(services) = services else {
            return Err(bad("services", "must be a mapping".into()));
        };
        for (name, svc) in services {
            match svc {
                Value::Object(m) => {
                    for k in m.keys() {
                        if !SERVICE_KEYS.contains(&k.as_str()) && !k.starts_with("x-") {
                            return Err(bad(
                                &format!("services.{name}"),
                                format!("additional properties '{k}' not allowed"),
                            ));
                        }
                    }
                }
                Value::Null => {}
                _ => return Err(bad(&format!("services.{name}"), "must be a mapping".into())),
            }
        }
    }
    for k in ["networks", "volumes", "secrets", "configs"] {
        if let Some(x) = top.get(k) {
            if !(x.is_object() || x.is_null()) {
                return Err(bad(k, "must be a mapping".into()));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- typed

const USER_KEYED: &[&str] = &[
    "services", "volumes", "networks", "secrets", "configs", "models",
];

/// Removes `x-` keys (kept at the top level, and as names under the
/// user-keyed maps) — compose's processExtensions.
fn strip_extensions(v: &mut Value, path: &mut Vec<String>) {
    let user_keyed = path.len() == 1 && USER_KEYED.contains(&path[0].as_str())
        || (path.len() == 3 && path[0] == "services" && path[2] == "depends_on");
    match v {
        Value::Object(m) => {
            if !user_keyed {
                m.retain(|k, _| !k.starts_with("x-"));
            }
            for (k, e) in m.iter_mut() {
                path.push(k.clone());
                strip_extensions(e, path);
                path.pop();
            }
        }
        Value::Array(a) => {
            for e in a.iter_mut() {
                path.push("[]".into());
                strip_extensions(e, path);
                path.pop();
            }
        }
        _ => {}
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: Value, path: &str) -> Result<T, Error> {
    match serde_json::from_value::<T>(v.clone()) {
        Ok(t) => Ok(t),
        Err(e) => {
            // Find the field that fails, to name it.
            if let Value::Object(m) = &v {
                for (k, x) in m {
                    let mut one = Map::new();
                    one.insert(k.clone(), x.clone());
                    if let Err(e2) = serde_json::from_value::<T>(Value::Object(one)) {
                        let msg = e2.to_string();
                        if msg.contains("unknown field") {
                            return Err(Error::new(format!(
                                "{path}: additional properties '{k}' not allowed"
                            )));
                        }
                        return Err(Error::new(format!("{path}.{k}: {}", inner_msg(&msg))));
                    }
                }
            }
            Err(Error::new(format!("{path}: {}", inner_msg(&e.to_string()))))
        }
    }
}

fn inner_msg(m: &str) -> String {
    m.to_string()
}

fn to_project(cx: &mut Ctx, mut dict: Dict, name: &str, wd: &str) -> Result<Project, Error> {
    dict.remove("name");
    let mut v = Value::Object(dict);
    let mut extensions = BTreeMap::new();
    if let Value::Object(m) = &mut v {
        let keys: Vec<String> = m.keys().filter(|k| k.starts_with("x-")).cloned().collect();
        for k in keys {
            if let Some(x) = m.remove(&k) {
                extensions.insert(k, x);
            }
        }
    }
    strip_extensions(&mut v, &mut Vec::new());
    let Value::Object(dict) = v else {
        unreachable!("a mapping")
    };
    let mut p = Project {
        name: name.to_string(),
        working_dir: wd.to_string(),
        extensions,
        environment: cx.env.clone(),
        ..Default::default()
    };
    let section = |k: &str| -> Map<String, Value> {
        match dict.get(k) {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        }
    };
    for (n, s) in section("services") {
        let s = if s.is_null() {
            Value::Object(Map::new())
        } else {
            s
        };
        let mut svc: ServiceConfig = decode(
            validate_service_shapes(s, n.as_str())?,
            &format!("services.{n}"),
        )?;
        svc.name = n.clone();
        p.services.insert(n, svc);
    }
    for (n, x) in section("networks") {
        let x = if x.is_null() {
            Value::Object(Map::new())
        } else {
            x
        };
        p.networks
            .insert(n.clone(), decode(x, &format!("networks.{n}"))?);
    }
    for (n, x) in section("volumes") {
        let x = if x.is_null() {
            Value::Object(Map::new())
        } else {
            x
        };
        p.volumes
            .insert(n.clone(), decode(x, &format!("volumes.{n}"))?);
    }
    for (key, target) in [("secrets", &mut p.secrets), ("configs", &mut p.configs)] {
        for (n, x) in section(key) {
            let mut x = if x.is_null() {
                Value::Object(Map::new())
            } else {
                x
            };
            if let Value::Object(m) = &mut x {
                if let Some(val) = m.remove("x-#value") {
                    m.insert("content".into(), val);
                }
            }
            target.insert(n.clone(), decode(x, &format!("{key}.{n}"))?);
        }
    }
    for (n, x) in section("models") {
        p.models.insert(n, x);
    }
    Ok(p)
}

/// Per-field messages for the shapes the typed decoding would only reject
/// with a generic message: ports and volumes entries.
fn validate_service_shapes(s: Value, name: &str) -> Result<Value, Error> {
    if let Some(Value::Array(ports)) = s.get("ports") {
        for (i, p) in ports.iter().enumerate() {
            if let Some(t) = p.get("target") {
                if !(t.is_u64() || t.as_str().is_some_and(|x| x.parse::<u16>().is_ok())) {
                    return Err(Error::new(format!(
                        "services.{name}.ports[{i}].target: invalid port {}",
                        tree::sprint(t)
                    )));
                }
            }
        }
    }
    Ok(s)
}

// ---------------------------------------------------------------- project

/// compose-go's `WithProfiles`.
pub fn with_profiles(p: &mut Project, profiles: &[String]) {
    let mut all = std::mem::take(&mut p.services);
    all.append(&mut p.disabled_services);
    for (n, s) in all {
        let on =
            s.profiles.is_empty() || profiles.iter().any(|x| x == "*" || s.profiles.contains(x));
        if on {
            p.services.insert(n, s);
        } else {
            p.disabled_services.insert(n, s);
        }
    }
    p.profiles = profiles.to_vec();
}

/// `WithSelectedServices`: the named services and what they depend on.
fn select_services(p: &mut Project, names: &[String]) -> Result<(), Error> {
    let mut keep: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = names.to_vec();
    while let Some(n) = todo.pop() {
        if !keep.insert(n.clone()) {
            continue;
        }
        match p.services.get(&n) {
            Some(s) => todo.extend(s.depends_on.keys().cloned()),
            None => {
                if !p.disabled_services.contains_key(&n) {
                    return Err(Error::new(format!("no such service: {n}")));
                }
            }
        }
    }
    let all = std::mem::take(&mut p.services);
    for (n, s) in all {
        if keep.contains(&n) {
            p.services.insert(n, s);
        } else {
            p.disabled_services.insert(n, s);
        }
    }
    Ok(())
}

fn check_consistency(p: &Project) -> Result<(), Error> {
    for (name, s) in &p.services {
        if s.build.is_none() && s.image.is_empty() && s.provider.is_none() {
            return Err(Error::new(format!(
                "service {name:?} has neither an image nor a build context specified: invalid compose project"
            )));
        }
        if let Some(b) = &s.build {
            if !b.dockerfile_inline.is_empty() && !b.dockerfile.is_empty() {
                return Err(Error::new(format!(
                    "service {name:?} declares mutualy exclusive dockerfile and dockerfile_inline: invalid compose project"
                )));
            }
        }
        if !s.network_mode.is_empty() && !s.networks.is_empty() {
            return Err(Error::new(format!(
                "service {name} declares mutually exclusive `network_mode` and `networks`: invalid compose project"
            )));
        }
        for n in s.networks.keys() {
            if !p.networks.contains_key(n) {
                return Err(Error::new(format!(
                    "service {name:?} refers to undefined network {n}: invalid compose project"
                )));
            }
        }
        if let Some(h) = &s.healthcheck {
            if let Some(first) = h.test.first() {
                if !matches!(first.as_str(), "CMD" | "CMD-SHELL" | "NONE") {
                    return Err(Error::new(
                        "healthcheck.test must start either by \"CMD\", \"CMD-SHELL\" or \"NONE\"",
                    ));
                }
            }
        }
        for (dep, cfg) in &s.depends_on {
            if !p.services.contains_key(dep) {
                if p.disabled_services.contains_key(dep) && !cfg.required {
                    continue;
                }
                return Err(Error::new(format!(
                    "service {name:?} depends on undefined service {dep:?}: invalid compose project"
                )));
            }
        }
        if let Some(shared) = s.network_mode.strip_prefix("service:") {
            if !p.services.contains_key(shared) {
                return Err(Error::new(format!(
                    "service {shared:?} not found for network_mode 'service:{shared}'"
                )));
            }
        }
        for v in &s.volumes {
            if v.kind == "volume" && !v.source.is_empty() && !p.volumes.contains_key(&v.source) {
                return Err(Error::new(format!(
                    "service {name:?} refers to undefined volume {}: invalid compose project",
                    v.source
                )));
            }
        }
        for sec in &s.secrets {
            if !p.secrets.contains_key(&sec.source) {
                return Err(Error::new(format!(
                    "service {name:?} refers to undefined secret {}: invalid compose project",
                    sec.source
                )));
            }
        }
        for c in &s.configs {
            if !p.configs.contains_key(&c.source) {
                return Err(Error::new(format!(
                    "service {name:?} refers to undefined config {}: invalid compose project",
                    c.source
                )));
            }
        }
        if s.cpus != 0.0 {
            if let Some(l) = s.deploy.as_ref().and_then(|d| d.resources.limits.as_ref()) {
                if l.cpus != 0.0 && l.cpus != s.cpus {
                    return Err(Error::new(format!(
                        "services.{name}: can't set distinct values on 'cpus' and 'deploy.resources.limits.cpus': invalid compose project"
                    )));
                }
            }
        }
        if !s.mem_limit.is_zero() {
            if let Some(l) = s.deploy.as_ref().and_then(|d| d.resources.limits.as_ref()) {
                if !l.memory.is_zero() && l.memory != s.mem_limit {
                    return Err(Error::new(format!(
                        "services.{name}: can't set distinct values on 'mem_limit' and 'deploy.resources.limits.memory': invalid compose project"
                    )));
                }
            }
        }
    }
    // dependency cycles
    fn visit(
        p: &Project,
        n: &str,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Result<(), Error> {
        if done.contains(n) {
            return Ok(());
        }
        if let Some(i) = stack.iter().position(|x| x == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n.to_string());
            return Err(Error::new(format!(
                "dependency cycle detected: {}",
                cycle.join(" -> ")
            )));
        }
        stack.push(n.to_string());
        if let Some(s) = p.services.get(n) {
            for d in s.depends_on.keys() {
                visit(p, d, stack, done)?;
            }
        }
        stack.pop();
        done.insert(n.to_string());
        Ok(())
    }
    let mut done = BTreeSet::new();
    for n in p.services.keys() {
        visit(p, n, &mut Vec::new(), &mut done)?;
    }
    Ok(())
}

/// `WithServicesEnvironmentResolved`: `environment` entries without a
/// value from the project's environment, then the `env_file`s under them.
pub fn resolve_services_environment(p: &mut Project, discard: bool) -> Result<(), Error> {
    let penv = p.environment.clone();
    let wd = p.working_dir.clone();
    for s in p.services.values_mut() {
        for (k, v) in s.environment.0.iter_mut() {
            if v.is_none() {
                if let Some(x) = penv.get(k) {
                    *v = Some(x.clone());
                }
            }
        }
        let mut env: BTreeMap<String, String> = s
            .environment
            .0
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        for f in &s.env_files {
            // relative under `config --no-path-resolution`
            let mut f = f.clone();
            f.path = FsPath::new(&wd)
                .join(&f.path)
                .to_string_lossy()
                .into_owned();
            if !FsPath::new(&f.path).exists() {
                if f.required {
                    return Err(Error::new(format!(
                        "env file {} not found: stat {}: no such file or directory",
                        f.path, f.path
                    )));
                }
                continue;
            }
            let content = std::fs::read_to_string(&f.path)
                .map_err(|e| Error::new(format!("failed to read {}: {e}", f.path)))?;
            if !f.format.is_empty() && f.format != "raw" {
                return Err(Error::new(format!(
                    "unsupported env_file format {}",
                    f.format
                )));
            }
            if f.format == "raw" {
                for line in content.lines() {
                    if let Some((k, v)) = line.split_once('=') {
                        env.insert(k.to_string(), v.to_string());
                    }
                }
                continue;
            }
            let svc_env = s.environment.0.clone();
            let mut out = env.clone();
            dotenv::parse(&content, &mut out, &|k| {
                penv.get(k)
                    .cloned()
                    .or_else(|| svc_env.get(k).cloned().flatten())
            })
            .map_err(|e| Error::new(format!("failed to read {}: {e}", f.path)))?;
            env = out;
        }
        let mut merged: BTreeMap<String, Option<String>> =
            env.into_iter().map(|(k, v)| (k, Some(v))).collect();
        for (k, v) in &s.environment.0 {
            merged.insert(k.clone(), v.clone());
        }
        s.environment.0 = merged;
        if discard {
            s.env_files.clear();
        }
    }
    Ok(())
}

fn resolve_label_files(p: &mut Project) -> Result<(), Error> {
    let wd = p.working_dir.clone();
    for s in p.services.values_mut() {
        let mut labels = BTreeMap::new();
        for f in &s.label_file {
            // relative under `config --no-path-resolution`
            let content = std::fs::read_to_string(FsPath::new(&wd).join(f))
                .map_err(|e| Error::new(format!("failed to load labels from {f}: {e}")))?;
            dotenv::parse(&content, &mut labels, &|_| None)
                .map_err(|e| Error::new(format!("failed to load labels from {f}: {e}")))?;
        }
        for (k, v) in labels {
            s.labels.0.entry(k).or_insert(v);
        }
    }
    Ok(())
}

/// `WithoutUnnecessaryResources`.
pub fn without_unnecessary_resources(p: &mut Project) {
    let mut nets = BTreeSet::new();
    let mut vols = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let mut configs = BTreeSet::new();
    let mut models = BTreeSet::new();
    for s in p.services.values() {
        nets.extend(s.networks.keys().cloned());
        for v in &s.volumes {
            if v.kind == "volume" && !v.source.is_empty() {
                vols.insert(v.source.clone());
            }
        }
        secrets.extend(s.secrets.iter().map(|x| x.source.clone()));
        if let Some(b) = &s.build {
            secrets.extend(b.secrets.iter().map(|x| x.source.clone()));
        }
        configs.extend(s.configs.iter().map(|x| x.source.clone()));
        models.extend(s.models.keys().cloned());
    }
    p.networks.retain(|k, _| nets.contains(k));
    p.volumes.retain(|k, _| vols.contains(k));
    p.secrets.retain(|k, _| secrets.contains(k));
    p.configs.retain(|k, _| configs.contains(k));
    p.models.retain(|k, _| models.contains(k));
}
