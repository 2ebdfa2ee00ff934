//! Typed instructions (BuildKit's `frontend/dockerfile/instructions`): each
//! [`Node`](crate::parser::Node) checked and turned into an
//! [`Instruction`] with its flags, and the instructions grouped into
//! [`Stage`]s after the global `ARG`s. Arguments are still unexpanded here
//! (BuildKit expands them when it dispatches, see [`crate::stages`] and [`crate::cache`]); error
//! messages are BuildKit's.

use serde::Serialize;

use crate::parser::{self, chomp_heredoc_content, parse_heredoc, Ast, Node, ParseError};
use crate::shell::go_quote;

/// Where an instruction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Location {
    pub line: usize,
    pub end_line: usize,
    pub column: usize,
}

impl Location {
    fn of(n: &Node) -> Self {
        Location {
            line: n.start_line,
            end_line: n.end_line,
            column: n.column,
        }
    }
}

/// `KEY=value` of ENV and LABEL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    /// Written in the legacy `ENV key value` form.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub legacy: bool,
}

/// One name of an ARG, with its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArgDef {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A heredoc given to RUN, CMD or ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InlineFile {
    pub name: String,
    pub data: String,
    pub chomp: bool,
}

/// The command of RUN, CMD and ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CmdLine {
    /// The exec-form arguments, or the shell-form line as one string.
    pub cmd_line: Vec<String>,
    /// Shell form: the stage's SHELL is prepended.
    pub prepend_shell: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<InlineFile>,
}

/// A heredoc given to COPY or ADD as a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceContent {
    pub path: String,
    pub data: String,
    pub expand: bool,
}

/// Sources and destination of COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourcesAndDest {
    pub sources: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contents: Vec<SourceContent>,
    pub dest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copy {
    #[serde(flatten)]
    pub paths: SourcesAndDest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub chown: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub chmod: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub link: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub parents: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Add {
    #[serde(flatten)]
    pub paths: SourcesAndDest,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub chown: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub chmod: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub link: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_git_dir: Option<bool>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub checksum: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpack: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// `RUN --mount=...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    #[serde(rename = "type")]
    pub typ: MountType,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
    pub readonly: bool,
    #[serde(skip_serializing_if = "is_zero")]
    pub size_limit: i64,
    /// `id=` (the cache id, or the secret's id).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sharing: Option<Sharing>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    Sandbox,
    Insecure,
}

/// `RUN --device=name[,required]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub name: String,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    #[serde(flatten)]
    pub cmd: CmdLine,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// The `--mount` values as written (variables are expanded in them
    /// when the step is dispatched, see [`parse_mount`]).
    #[serde(skip)]
    pub mount_specs: Vec<String>,
    pub network: Network,
    pub security: Security,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
}

/// docker's `HealthConfig` (durations in nanoseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    #[serde(rename = "Test")]
    pub test: Vec<String>,
    #[serde(rename = "Interval", skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(rename = "Timeout", skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(rename = "StartPeriod", skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(rename = "StartInterval", skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(rename = "Retries", skip_serializing_if = "is_zero")]
    pub retries: i64,
}

/// One instruction, typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "instruction", rename_all = "UPPERCASE")]
pub enum Instruction {
    Env {
        env: Vec<KeyValue>,
    },
    Label {
        labels: Vec<KeyValue>,
    },
    Maintainer {
        maintainer: String,
    },
    Add(Add),
    Copy(Copy),
    Onbuild {
        /// The trigger as written (what goes into the image's OnBuild).
        expression: String,
        /// The trigger parsed, when it parses (BuildKit checks it only
        /// when a child image runs it).
        #[serde(skip_serializing_if = "Option::is_none")]
        trigger: Option<Box<Command>>,
    },
    Workdir {
        path: String,
    },
    Run(Run),
    Cmd(CmdLine),
    Entrypoint(CmdLine),
    Healthcheck(Health),
    Expose {
        ports: Vec<String>,
    },
    User {
        user: String,
    },
    Volume {
        volumes: Vec<String>,
    },
    Stopsignal {
        signal: String,
    },
    Arg {
        args: Vec<ArgDef>,
    },
    Shell {
        shell: Vec<String>,
    },
}

/// An instruction with its place and text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    #[serde(flatten)]
    pub instruction: Instruction,
    /// The instruction as written (continuations joined, trimmed).
    pub original: String,
    pub location: Location,
}

/// A build stage: a FROM and what follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// `AS name`, lowercased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The base as written (an image, `scratch`, or an earlier stage).
    pub base: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub original: String,
    pub location: Location,
    pub commands: Vec<Command>,
}

/// A Dockerfile, typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub directives: Vec<parser::Directive>,
    pub escape: char,
    /// The ARGs before the first FROM.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub global_args: Vec<Command>,
    pub stages: Vec<Stage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<parser::Warning>,
}

impl Dockerfile {
    /// Parses and types a Dockerfile (`file` names it in errors).
    pub fn parse(file: &str, src: &[u8]) -> Result<Dockerfile, ParseError> {
        let ast = parser::parse(file, src)?;
        from_ast(file, &ast)
    }
}

/// The instruction names BuildKit knows (`command.Commands`).
pub const INSTRUCTIONS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Types an AST: global ARGs, then stages.
pub fn from_ast(file: &str, ast: &Ast) -> Result<Dockerfile, ParseError> {
    let mut stages: Vec<Stage> = vec![];
    let mut global_args = vec![];
    for n in &ast.nodes {
        let fail = |message: String| ParseError {
            file: file.to_string(),
            line: n.start_line,
            column: n.column,
            message,
        };
        if n.cmd.eq_ignore_ascii_case("from") {
            stages.push(parse_from(n).map_err(fail)?);
            continue;
        }
        let cmd = parse_command(n).map_err(fail)?;
        if stages.is_empty() {
            if matches!(cmd.instruction, Instruction::Arg { .. }) {
                global_args.push(cmd);
                continue;
            }
            return Err(fail("no build stage in current context".into()));
        }
        if let Some(s) = stages.last_mut() {
            s.commands.push(cmd);
        }
    }
    Ok(Dockerfile {
        directives: ast.directives.clone(),
        escape: ast.escape,
        global_args,
        stages,
        warnings: ast.warnings.clone(),
    })
}

/// Levenshtein distance (agext/levenshtein's, unit costs).
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// BuildKit's `suggest.WrapError`: ` (did you mean X?)` when an option is
/// within distance 2.
pub fn suggest(msg: String, val: &str, options: &[&str], case_sensitive: bool) -> String {
    let v = if case_sensitive {
        val.to_string()
    } else {
        val.to_lowercase()
    };
    let mut best: Option<String> = None;
    let mut min = 3;
    for o in options {
        let o = if case_sensitive {
            o.to_string()
        } else {
            o.to_lowercase()
        };
        if v == o {
            return msg;
        }
        let d = levenshtein(&v, &o);
        if d < min {
            min = d;
            best = Some(if case_sensitive {
                o
            } else if val == val.to_lowercase() {
                o.to_lowercase()
            } else if val == val.to_uppercase() {
                o.to_uppercase()
            } else {
                o
            });
        }
    }
    match best {
        Some(b) => format!("{msg} (did you mean {b}?)"),
        None => msg,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum FlagType {
    Bool,
    Str,
    Strings,
}

/// BuildKit's `BFlags`: the flags an instruction declares, parsed.
struct Flags<'a> {
    args: &'a [String],
    decl: Vec<(&'static str, FlagType, Option<String>)>,
    values: Vec<(String, FlagType, Vec<String>)>,
}

impl<'a> Flags<'a> {
    fn new(args: &'a [String]) -> Self {
        Flags {
            args,
            decl: vec![],
            values: vec![],
        }
    }
    fn add(&mut self, name: &'static str, t: FlagType, default: Option<&str>) {
        self.decl.push((name, t, default.map(str::to_string)));
    }
    fn parse(&mut self) -> Result<(), String> {
        for a in self.args {
            if a == "--" {
                return Ok(());
            }
            let Some(body) = a.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {a}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let flag_name = format!("--{name}");
            let Some(&(dname, t, _)) = self.decl.iter().find(|d| d.0 == name) else {
                let names: Vec<&str> = self.decl.iter().map(|d| d.0).collect();
                return Err(suggest(
                    format!("unknown flag: {flag_name}"),
                    name,
                    &names,
                    true,
                ));
            };
            let used = self.values.iter().position(|v| v.0 == dname);
            if used.is_some() && t != FlagType::Strings {
                return Err(format!("duplicate flag specified: {flag_name}"));
            }
            let v = match t {
                FlagType::Bool => {
                    if value == Some("") {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    match value.unwrap_or("").to_lowercase().as_str() {
                        "true" | "" => "true".to_string(),
                        "false" => "false".to_string(),
                        _ => {
                            return Err(format!(
                                "expecting boolean value for flag {flag_name}, not: {}",
                                value.unwrap_or("")
                            ))
                        }
                    }
                }
                FlagType::Str | FlagType::Strings => match value {
                    None => return Err(format!("missing a value on flag: {flag_name}")),
                    Some(v) => v.to_string(),
                },
            };
            match used {
                Some(i) => self.values[i].2.push(v),
                None => self.values.push((dname.to_string(), t, vec![v])),
            }
        }
        Ok(())
    }
    fn used(&self, name: &str) -> bool {
        self.values.iter().any(|v| v.0 == name)
    }
    fn string(&self, name: &str) -> String {
        match self.values.iter().find(|v| v.0 == name) {
            Some(v) => v.2.last().cloned().unwrap_or_default(),
            None => self
                .decl
                .iter()
                .find(|d| d.0 == name)
                .and_then(|d| d.2.clone())
                .unwrap_or_default(),
        }
    }
    fn bool(&self, name: &str) -> bool {
        self.string(name) == "true"
    }
    fn strings(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .find(|v| v.0 == name)
            .map(|v| v.2.clone())
            .unwrap_or_default()
    }
}

fn at_least_one(c: &str) -> String {
    format!("{c} requires at least one argument")
}
fn exactly_one(c: &str) -> String {
    format!("{c} requires exactly one argument")
}

fn code(n: &Node) -> String {
    n.original.trim().to_string()
}

fn parse_from(n: &Node) -> Result<Stage, String> {
    let args = &n.args;
    let name = if args.len() == 3 && args[1].eq_ignore_ascii_case("as") {
        let name = args[2].to_lowercase();
        if !valid_stage_name(&name) {
            return Err(format!(
                "invalid name for build stage: {}, name can't start with a number or contain symbols",
                go_quote(&args[2])
            ));
        }
        Some(name)
    } else if args.len() != 1 {
        return Err("FROM requires either one or three arguments".into());
    } else {
        None
    };
    let mut f = Flags::new(&n.flags);
    f.add("platform", FlagType::Str, Some(""));
    f.parse()?;
    let platform = f.string("platform");
    Ok(Stage {
        name,
        base: args[0].clone(),
        platform: (!platform.is_empty()).then_some(platform),
        original: code(n),
        location: Location::of(n),
        commands: vec![],
    })
}

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some('a'..='z'))
        && c.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
}

/// One non-FROM instruction.
pub fn parse_command(n: &Node) -> Result<Command, String> {
    let instruction = match n.cmd.to_lowercase().as_str() {
        "env" => {
            Flags::new(&n.flags).parse()?;
            Instruction::Env {
                env: parse_kvps(&n.args, "ENV")?,
            }
        }
        "maintainer" => {
            if n.args.len() != 1 {
                return Err(exactly_one("MAINTAINER"));
            }
            Flags::new(&n.flags).parse()?;
            Instruction::Maintainer {
                maintainer: n.args[0].clone(),
            }
        }
        "label" => {
            Flags::new(&n.flags).parse()?;
            Instruction::Label {
                labels: parse_kvps(&n.args, "LABEL")?,
            }
        }
        "add" => parse_add(n)?,
        "copy" => parse_copy(n)?,
        "onbuild" => parse_onbuild(n)?,
        "workdir" => {
            if n.args.len() != 1 {
                return Err(exactly_one("WORKDIR"));
            }
            Flags::new(&n.flags).parse()?;
            Instruction::Workdir {
                path: n.args[0].clone(),
            }
        }
        "run" => parse_run(n)?,
        "cmd" => {
            Flags::new(&n.flags).parse()?;
            Instruction::Cmd(cmd_line(n, false))
        }
        "entrypoint" => {
            Flags::new(&n.flags).parse()?;
            Instruction::Entrypoint(cmd_line(n, true))
        }
        "healthcheck" => parse_healthcheck(n)?,
        "expose" => {
            if n.args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            Flags::new(&n.flags).parse()?;
            let mut ports = n.args.clone();
            ports.sort();
            Instruction::Expose { ports }
        }
        "user" => {
            if n.args.len() != 1 {
                return Err(exactly_one("USER"));
            }
            Flags::new(&n.flags).parse()?;
            Instruction::User {
                user: n.args[0].clone(),
            }
        }
        "volume" => {
            if n.args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            Flags::new(&n.flags).parse()?;
            let mut volumes = vec![];
            for v in &n.args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                volumes.push(v.to_string());
            }
            Instruction::Volume { volumes }
        }
        "stopsignal" => {
            if n.args.len() != 1 {
                return Err(exactly_one("STOPSIGNAL"));
            }
            Instruction::Stopsignal {
                signal: n.args[0].clone(),
            }
        }
        "arg" => {
            if n.args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let mut args = vec![];
            for a in &n.args {
                match a.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => args.push(ArgDef {
                        key: k.to_string(),
                        default: Some(v.to_string()),
                    }),
                    None => args.push(ArgDef {
                        key: a.clone(),
                        default: None,
                    }),
                }
            }
            Instruction::Arg { args }
        }
        "shell" => {
            Flags::new(&n.flags).parse()?;
            let c = cmd_line(n, false);
            if c.cmd_line.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !n.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            Instruction::Shell { shell: c.cmd_line }
        }
        _ => {
            return Err(suggest(
                format!("unknown instruction: {}", n.cmd),
                &n.cmd,
                &INSTRUCTIONS,
                false,
            ))
        }
    };
    Ok(Command {
        instruction,
        original: code(n),
        location: Location::of(n),
    })
}

fn parse_kvps(args: &[String], name: &str) -> Result<Vec<KeyValue>, String> {
    if args.is_empty() {
        return Err(at_least_one(name));
    }
    if args.len() % 3 != 0 {
        return Err(format!("Bad input to {name}, too many arguments"));
    }
    let mut out = vec![];
    for t in args.chunks(3) {
        if t[0].is_empty() {
            return Err(format!("{name} names can not be blank"));
        }
        out.push(KeyValue {
            key: t[0].clone(),
            value: t[1].clone(),
            legacy: t[2].is_empty(),
        });
    }
    Ok(out)
}

fn cmd_line(n: &Node, empty_as_nil: bool) -> CmdLine {
    let files = n
        .heredocs
        .iter()
        .map(|h| InlineFile {
            name: h.name.clone(),
            data: h.content.clone(),
            chomp: h.chomp,
        })
        .collect();
    let mut args = if n.args.is_empty() {
        vec![]
    } else if n.json {
        n.args.clone()
    } else {
        vec![n.args.join(" ")]
    };
    if empty_as_nil && args.is_empty() {
        args = vec![];
    }
    CmdLine {
        cmd_line: args,
        prepend_shell: !n.json,
        files,
    }
}

fn sources_and_dest(n: &Node, command: &str) -> Result<SourcesAndDest, String> {
    let (srcs, dest) = n.args.split_at(n.args.len() - 1);
    let dest = dest[0].clone();
    if parse_heredoc(&dest)?.is_some() {
        return Err(format!(
            "{command} cannot accept a heredoc as a destination"
        ));
    }
    let mut sources = vec![];
    let mut contents = vec![];
    for s in srcs {
        match parse_heredoc(s)? {
            Some(h) => {
                let mut data = n
                    .heredocs
                    .iter()
                    .rev()
                    .find(|d| d.name == h.name)
                    .map(|d| d.content.clone())
                    .unwrap_or_default();
                if h.chomp {
                    data = chomp_heredoc_content(&data);
                }
                contents.push(SourceContent {
                    path: h.name,
                    data,
                    expand: h.expand,
                });
            }
            None => sources.push(s.clone()),
        }
    }
    Ok(SourcesAndDest {
        sources,
        contents,
        dest,
    })
}

fn no_dest(c: &str) -> String {
    format!("{c} requires at least two arguments, but only one was provided. Destination could not be determined")
}

fn parse_add(n: &Node) -> Result<Instruction, String> {
    if n.args.len() < 2 {
        return Err(no_dest("ADD"));
    }
    let mut f = Flags::new(&n.flags);
    f.add("chown", FlagType::Str, Some(""));
    f.add("chmod", FlagType::Str, Some(""));
    f.add("link", FlagType::Bool, Some("false"));
    f.add("keep-git-dir", FlagType::Bool, Some("false"));
    f.add("checksum", FlagType::Str, Some(""));
    f.add("unpack", FlagType::Bool, Some("false"));
    f.add("exclude", FlagType::Strings, None);
    f.parse()?;
    let paths = sources_and_dest(n, "ADD")?;
    Ok(Instruction::Add(Add {
        paths,
        chown: f.string("chown"),
        chmod: f.string("chmod"),
        link: f.bool("link"),
        keep_git_dir: f.used("keep-git-dir").then(|| f.bool("keep-git-dir")),
        checksum: f.string("checksum"),
        unpack: f.used("unpack").then(|| f.bool("unpack")),
        exclude: f.strings("exclude"),
    }))
}

fn parse_copy(n: &Node) -> Result<Instruction, String> {
    if n.args.len() < 2 {
        return Err(no_dest("COPY"));
    }
    let mut f = Flags::new(&n.flags);
    f.add("chown", FlagType::Str, Some(""));
    f.add("from", FlagType::Str, Some(""));
    f.add("chmod", FlagType::Str, Some(""));
    f.add("link", FlagType::Bool, Some("false"));
    f.add("exclude", FlagType::Strings, None);
    f.add("parents", FlagType::Bool, Some("false"));
    f.parse()?;
    let paths = sources_and_dest(n, "COPY")?;
    let from = f.string("from");
    Ok(Instruction::Copy(Copy {
        paths,
        from: (!from.is_empty()).then_some(from),
        chown: f.string("chown"),
        chmod: f.string("chmod"),
        link: f.bool("link"),
        parents: f.bool("parents"),
        exclude: f.strings("exclude"),
    }))
}

fn parse_onbuild(n: &Node) -> Result<Instruction, String> {
    if n.args.is_empty() {
        return Err(at_least_one("ONBUILD"));
    }
    Flags::new(&n.flags).parse()?;
    let trigger = n.args[0].trim().to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "MAINTAINER" | "FROM" => {
            return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
        }
        _ => {}
    }
    // (?i)^\s*ONBUILD\s* removed from the original line.
    let ws = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
    let o = n.original.trim_start_matches(ws);
    let o = if o.len() >= 7 && o[..7].eq_ignore_ascii_case("onbuild") {
        o[7..].trim_start_matches(ws)
    } else {
        o
    };
    let mut expression = o.to_string();
    for h in &n.heredocs {
        expression.push('\n');
        expression.push_str(&h.content);
        expression.push_str(&h.name);
    }
    let trigger = n.sub.as_ref().and_then(|s| {
        let mut s = (**s).clone();
        s.heredocs = n.heredocs.clone();
        parse_command(&s).ok().map(Box::new)
    });
    Ok(Instruction::Onbuild {
        expression,
        trigger,
    })
}

fn parse_run(n: &Node) -> Result<Instruction, String> {
    let mut f = Flags::new(&n.flags);
    f.add("mount", FlagType::Strings, None);
    f.add("network", FlagType::Str, Some("default"));
    f.add("security", FlagType::Str, Some("sandbox"));
    f.add("device", FlagType::Strings, None);
    f.parse()?;
    let cmd = cmd_line(n, false);
    let mount_specs = f.strings("mount");
    let mut mounts = vec![];
    for m in &mount_specs {
        // BuildKit checks only `from` here; the rest once variables are
        // known. A mount written without variables is checked now.
        if m.contains('$') {
            let from_has_var = csv_fields(m).unwrap_or_default().iter().any(|fl| {
                fl.split_once('=').is_some_and(|(k, v)| {
                    k.eq_ignore_ascii_case("from") && v.find('$').is_some_and(|j| j + 1 != v.len())
                })
            });
            if from_has_var {
                return Err(
                    "'from' doesn't support variable expansion, define alias stage instead".into(),
                );
            }
            continue;
        }
        mounts.push(parse_mount(m, &|s| Ok(s.to_string()))?);
    }
    let network = match f.string("network").as_str() {
        "default" => Network::Default,
        "none" => Network::None,
        "host" => Network::Host,
        v => return Err(format!("invalid network mode {}", go_quote(v))),
    };
    let security = match f.string("security").as_str() {
        "sandbox" => Security::Sandbox,
        "insecure" => Security::Insecure,
        v => return Err(format!("security {} is not valid", go_quote(v))),
    };
    let mut devices = vec![];
    for d in f.strings("device") {
        devices.push(parse_device(&d)?);
    }
    Ok(Instruction::Run(Run {
        cmd,
        mounts,
        mount_specs,
        network,
        security,
        devices,
    }))
}

fn parse_healthcheck(n: &Node) -> Result<Instruction, String> {
    if n.args.is_empty() {
        return Err(at_least_one("HEALTHCHECK"));
    }
    let typ = n.args[0].to_uppercase();
    let args = &n.args[1..];
    if typ == "NONE" {
        if !args.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Instruction::Healthcheck(Health {
            test: vec![typ],
            interval: 0,
            timeout: 0,
            start_period: 0,
            start_interval: 0,
            retries: 0,
        }));
    }
    let mut f = Flags::new(&n.flags);
    for name in [
        "interval",
        "timeout",
        "start-period",
        "start-interval",
        "retries",
    ] {
        f.add(name, FlagType::Str, Some(""));
    }
    f.parse()?;
    let test = match typ.as_str() {
        "CMD" => {
            let c: Vec<String> = if args.is_empty() {
                vec![]
            } else if n.json {
                args.to_vec()
            } else {
                vec![args.join(" ")]
            };
            if c.is_empty() {
                return Err("Missing command after HEALTHCHECK CMD".into());
            }
            let t = if n.json { "CMD" } else { "CMD-SHELL" };
            let mut test = vec![t.to_string()];
            test.extend(c);
            test
        }
        _ => {
            return Err(format!(
                "Unknown type {} in HEALTHCHECK (try CMD)",
                go_quote(&typ)
            ))
        }
    };
    let interval = |name: &str| -> Result<i64, String> {
        let s = f.string(name);
        if s.is_empty() {
            return Ok(0);
        }
        let d = berth_util::duration::parse_nanos(&s)
            .map_err(|e| format!("time: {e} {}", go_quote(&s)))?;
        if d == 0 {
            return Ok(0);
        }
        if d < 1_000_000 {
            return Err(format!(
                "Interval {} cannot be less than 1ms",
                go_quote(name)
            ));
        }
        Ok(d)
    };
    let health = Health {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries: {
            let r = f.string("retries");
            if r.is_empty() {
                0
            } else {
                let v = parse_go_int32(&r)?;
                if v < 0 {
                    return Err(format!("--retries cannot be negative ({v})"));
                }
                v
            }
        },
    };
    Ok(Instruction::Healthcheck(health))
}

/// `strconv.ParseInt(s, 10, 32)` with Go's error text.
fn parse_go_int32(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.ParseInt: parsing {}: invalid syntax",
            go_quote(s)
        ));
    }
    match s.parse::<i64>() {
        Ok(v) if (i32::MIN as i64..=i32::MAX as i64).contains(&v) => Ok(v),
        _ => Err(format!(
            "strconv.ParseInt: parsing {}: value out of range",
            go_quote(s)
        )),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// An `EXPOSE` word as BuildKit reads it (go-connections'
/// `nat.ParsePortSpec`, `[[IP:]HOSTPORT:]PORT[-END][/PROTO]`): the exposed
/// ports (`9000/udp`), a range expanded.
pub fn expose_ports(raw: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let (ip, host, container) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (proto, container) = {
        let pp: Vec<&str> = container.split('/').collect();
        if container.is_empty() || pp[0].is_empty() {
            ("", "")
        } else if pp.len() == 1 || pp[1].is_empty() {
            ("tcp", pp[0])
        } else {
            (pp[1], pp[0])
        }
    };
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let range = |s: &str| -> Option<(u16, u16)> {
        match s.split_once('-') {
            None => s.parse().ok().map(|p| (p, p)),
            Some((a, b)) => {
                let b = b.split('-').next().unwrap_or(b);
                let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
                (a <= b).then_some((a, b))
            }
        }
    };
    let (start, end) =
        range(container).ok_or_else(|| format!("invalid containerPort: {container}"))?;
    if !host.is_empty() {
        let (hs, he) = range(host).ok_or_else(|| format!("invalid hostPort: {host}"))?;
        if end - start != he - hs && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {container} and {host}"
            ));
        }
    }
    let proto = proto.to_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// One CSV record (`encoding/csv`'s rules: `"` quotes a field, `""` is a
/// quote inside one).
pub fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = vec![];
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    loop {
        let mut f = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(format!(
                            "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                            i + 1
                        ))
                    }
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        f.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        f.push(c);
                        i += 1;
                    }
                }
            }
            match chars.get(i) {
                None | Some(',') => {}
                _ => {
                    return Err(format!(
                    "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                    i + 1
                ))
                }
            }
        } else {
            while let Some(&c) = chars.get(i) {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err(format!(
                        "parse error on line 1, column {}: bare \" in non-quoted-field",
                        i + 1
                    ));
                }
                f.push(c);
                i += 1;
            }
        }
        out.push(f);
        if chars.get(i) == Some(&',') {
            i += 1;
            continue;
        }
        return Ok(out);
    }
}

/// `RUN --mount=` value, its values expanded by `expand` (BuildKit's
/// `parseMount`).
pub fn parse_mount(
    val: &str,
    expand: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Mount, String> {
    let fields = csv_fields(val).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = Mount {
        typ: MountType::Bind,
        from: String::new(),
        source: String::new(),
        target: String::new(),
        readonly: false,
        size_limit: 0,
        id: String::new(),
        sharing: None,
        required: false,
        env: None,
        mode: None,
        uid: None,
        gid: None,
    };
    let mut ro_auto = true;
    let secretish = |m: &Mount| matches!(m.typ, MountType::Secret | MountType::Ssh);
    for field in fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    ro_auto = false;
                }
                "required" if secretish(&m) => m.required = true,
                "required" => {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.typ.as_str()
                    ))
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let value = expand(value)?;
        let bad = |k: &str| format!("invalid value for {k}: {value}");
        match key.as_str() {
            "type" => {
                m.typ = match value.to_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => {
                        return Err(suggest(
                            format!("unsupported mount type {}", go_quote(&value)),
                            &value,
                            &["bind", "cache", "tmpfs", "secret", "ssh"],
                            true,
                        ))
                    }
                }
            }
            "from" => m.from = value,
            "source" | "src" => m.source = value,
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.readonly = parse_go_bool(&value).ok_or_else(|| bad(&key))?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !parse_go_bool(&value).ok_or_else(|| bad(&key))?;
                ro_auto = false;
            }
            "required" => {
                if secretish(&m) {
                    m.required = parse_go_bool(&value).ok_or_else(|| bad(&key))?;
                } else {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.typ.as_str()
                    ));
                }
            }
            "size" => {
                if m.typ == MountType::Tmpfs {
                    m.size_limit = berth_util::size::ram_in_bytes(&value).map_err(|_| bad(&key))?;
                } else {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.typ.as_str()
                    ));
                }
            }
            "id" => m.id = value,
            "sharing" => {
                m.sharing = Some(match value.to_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        return Err(suggest(
                            format!("unsupported sharing value {}", go_quote(&value)),
                            &value,
                            &["shared", "private", "locked"],
                            true,
                        ))
                    }
                })
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| format!("invalid value {value} for mode"))?,
                )
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| format!("invalid value {value} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| format!("invalid value {value} for gid"))?,
                )
            }
            "env" => m.env = Some(value),
            _ => {
                return Err(suggest(
                    format!("unexpected key '{key}' in '{field}'"),
                    &key,
                    &[
                        "type",
                        "from",
                        "source",
                        "target",
                        "readonly",
                        "id",
                        "sharing",
                        "required",
                        "size",
                        "mode",
                        "uid",
                        "gid",
                        "src",
                        "dst",
                        "destination",
                        "ro",
                        "rw",
                        "readwrite",
                        "env",
                    ],
                    true,
                ))
            }
        }
    }
    let file_info = matches!(m.typ, MountType::Secret | MountType::Ssh | MountType::Cache);
    if !file_info {
        let t = go_quote(m.typ.as_str());
        if m.mode.is_some() {
            return Err(format!("mode not allowed for {t} type mounts"));
        }
        if m.uid.is_some() {
            return Err(format!("uid not allowed for {t} type mounts"));
        }
        if m.gid.is_some() {
            return Err(format!("gid not allowed for {t} type mounts"));
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.typ, MountType::Cache | MountType::Tmpfs);
    }
    if m.typ == MountType::Secret {
        if !m.from.is_empty() {
            return Err("secret mount should not have a from".into());
        }
        if m.sharing.is_some() {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_empty() && m.target.is_empty() && m.id.is_empty() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if !m.source.is_empty() && !m.id.is_empty() {
            return Err("both source and id can't be set".into());
        }
    }
    if m.sharing.is_some() && m.typ != MountType::Cache {
        return Err(format!(
            "invalid cache sharing set for {} mount",
            m.typ.as_str()
        ));
    }
    Ok(m)
}

/// `RUN --device=` value.
pub fn parse_device(val: &str) -> Result<Device, String> {
    let fields = csv_fields(val).map_err(|e| format!("failed to parse csv devices: {e}"))?;
    let mut d = Device {
        name: String::new(),
        required: false,
    };
    for field in fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v.to_string())),
            None => (field.to_lowercase(), None),
        };
        match (key.as_str(), value) {
            ("required", None) => d.required = true,
            (_, None) if d.name.is_empty() => d.name = field.clone(),
            (_, None) => return Err(format!("invalid field '{field}' must be a key=value pair")),
            ("name", Some(v)) => {
                if !d.name.is_empty() {
                    return Err(format!("device name already set to {}", d.name));
                }
                d.name = v;
            }
            ("required", Some(v)) => {
                d.required =
                    parse_go_bool(&v).ok_or_else(|| format!("invalid value for {key}: {v}"))?;
            }
            _ if d.name.is_empty() => d.name = field.clone(),
            _ => {
                return Err(suggest(
                    format!("unexpected key '{key}' in '{field}'"),
                    &key,
                    &["name", "required"],
                    true,
                ))
            }
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {

    /// nat.ParsePortSpec's container side, as BuildKit's EXPOSE reads it.
    #[test]
    fn expose_specs() {
        assert_eq!(expose_ports("80").unwrap(), ["80/tcp"]);
        assert_eq!(
            expose_ports("9000-9001/udp").unwrap(),
            ["9000/udp", "9001/udp"]
        );
        assert_eq!(expose_ports("53/UDP").unwrap(), ["53/udp"]);
        assert_eq!(expose_ports("8080:80").unwrap(), ["80/tcp"]);
        assert_eq!(expose_ports("127.0.0.1:8080:80/sctp").unwrap(), ["80/sctp"]);
        assert_eq!(
            expose_ports("abc").unwrap_err(),
            "invalid containerPort: abc"
        );
        assert_eq!(
            expose_ports("90-80").unwrap_err(),
            "invalid containerPort: 90-80"
        );
        assert_eq!(expose_ports("80/xyz").unwrap_err(), "invalid proto: xyz");
        assert_eq!(expose_ports("x:80").unwrap_err(), "invalid hostPort: x");
    }
    use super::*;

    fn df(s: &str) -> Result<Dockerfile, String> {
        Dockerfile::parse("Dockerfile", s.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn unknown_instruction_suggests() {
        assert_eq!(
            df("FROM a\n\n\n\n\n\nRUNN x\n").unwrap_err(),
            "Dockerfile:7:1: unknown instruction: RUNN (did you mean RUN?)"
        );
        assert_eq!(
            df("FROM a\ncopyy a b\n").unwrap_err(),
            "Dockerfile:2:1: unknown instruction: copyy (did you mean copy?)"
        );
        assert_eq!(
            df("FROM a\nFOOBAR x\n").unwrap_err(),
            "Dockerfile:2:1: unknown instruction: FOOBAR"
        );
    }

    #[test]
    fn flags_errors() {
        assert_eq!(
            df("FROM a\nCOPY --chwon=1 a b\n").unwrap_err(),
            "Dockerfile:2:1: unknown flag: --chwon (did you mean chown?)"
        );
        assert_eq!(
            df("FROM a\nCOPY --from=a --from=b a b\n").unwrap_err(),
            "Dockerfile:2:1: duplicate flag specified: --from"
        );
        assert_eq!(
            df("FROM a\nCOPY --link=maybe a b\n").unwrap_err(),
            "Dockerfile:2:1: expecting boolean value for flag --link, not: maybe"
        );
        assert_eq!(
            df("FROM a\nCOPY --chown a b\n").unwrap_err(),
            "Dockerfile:2:1: missing a value on flag: --chown"
        );
    }

    #[test]
    fn mounts() {
        let ok = |s: &str| parse_mount(s, &|v| Ok(v.to_string()));
        let m =
            ok("type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0700,uid=1000").unwrap();
        assert_eq!(m.typ, MountType::Cache);
        assert_eq!(m.mode, Some(0o700));
        assert!(!m.readonly);
        let m = ok("type=secret,id=tok,env=TOKEN,required").unwrap();
        assert!(m.required && m.readonly);
        assert_eq!(
            ok("type=bind,uid=1").unwrap_err(),
            "uid not allowed for \"bind\" type mounts"
        );
        assert_eq!(
            ok("type=cahce").unwrap_err(),
            "unsupported mount type \"cahce\" (did you mean cache?)"
        );
        assert_eq!(
            ok("type=secret,from=x,id=a").unwrap_err(),
            "secret mount should not have a from"
        );
        assert_eq!(
            ok("type=tmpfs,target=/t,size=64m").unwrap().size_limit,
            64 << 20
        );
        assert_eq!(
            ok("type=bind,sharing=shared").unwrap_err(),
            "invalid cache sharing set for bind mount"
        );
        assert_eq!(
            ok("\"type=bind,target=/a,b\"").unwrap_err(),
            "unsupported mount type \"bind,target=/a,b\""
        );
    }
}
