//! The stage graph as BuildKit builds it (`dockerfile2llb`): global ARGs
//! resolved (predefined platform ARGs of the host, build args, defaults),
//! each FROM expanded with them, a base that names an earlier stage used as
//! that stage, COPY `--from` (a stage name, an index or an image) and RUN
//! `--mount from=` as edges; cycles refused; the stages a target needs, in
//! an order where each comes after what it needs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::instructions::{Dockerfile, Instruction, Location};
use crate::parser::ParseError;
use crate::shell::{EnvList, Lex};

/// The host platform, in the OCI terms of the predefined ARGs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: String,
}

impl Platform {
    pub fn host() -> Self {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", ""),
            "x86" => ("386", ""),
            "aarch64" => ("arm64", ""),
            "arm" => ("arm", "v7"),
            "powerpc64" => ("ppc64le", ""),
            "riscv64" => ("riscv64", ""),
            "s390x" => ("s390x", ""),
            "loongarch64" => ("loong64", ""),
            a => (a, ""),
        };
        Platform {
            os: "linux".into(),
            arch: arch.into(),
            variant: variant.into(),
        }
    }
    /// `os/arch[/variant]`.
    pub fn format(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.arch)
        } else {
            format!("{}/{}/{}", self.os, self.arch, self.variant)
        }
    }
}

/// What a build asks of the graph.
#[derive(Debug, Clone, Default)]
pub struct GraphOptions {
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// `--target` (default: the last stage).
    pub target: Option<String>,
}

/// Where a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "ref")]
pub enum Base {
    Scratch,
    Image(String),
    Stage(usize),
}

/// A stage with its expanded base and its edges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageNode {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub base: Base,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Stages this one reads (base, COPY --from, RUN --mount from=).
    pub deps: Vec<usize>,
    /// Images it reads besides its base (COPY --from=image, mounts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(skip)]
    dep_locations: Vec<Location>,
}

/// The stage DAG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Graph {
    /// Global ARGs after build args and defaults (predefined ones first).
    pub global_args: EnvList,
    pub stages: Vec<StageNode>,
    pub target: usize,
}

/// BuildKit's `defaultArgs` for a host build.
pub fn default_args(p: &Platform, overrides: &BTreeMap<String, String>, target: &str) -> EnvList {
    let target = if target.is_empty() { "default" } else { target };
    let mut e = EnvList::new();
    for (k, v) in [
        ("BUILDPLATFORM", p.format()),
        ("BUILDOS", p.os.clone()),
        ("BUILDOSVERSION", String::new()),
        ("BUILDARCH", p.arch.clone()),
        ("BUILDVARIANT", p.variant.clone()),
        ("TARGETPLATFORM", p.format()),
        ("TARGETOS", p.os.clone()),
        ("TARGETOSVERSION", String::new()),
        ("TARGETARCH", p.arch.clone()),
        ("TARGETVARIANT", p.variant.clone()),
        ("TARGETSTAGE", target.to_string()),
    ] {
        e.set(k, overrides.get(k).map_or(v.as_str(), |s| s.as_str()));
    }
    e
}

/// The ARG names docker passes to RUN without a declaration, kept out of
/// the cache key and the history.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn err(file: &str, loc: Location, message: String) -> ParseError {
    ParseError {
        file: file.to_string(),
        line: loc.line,
        column: loc.column,
        message,
    }
}

impl Graph {
    /// The graph of `df` for a host build.
    pub fn new(file: &str, df: &Dockerfile, opts: &GraphOptions) -> Result<Graph, ParseError> {
        if df.stages.is_empty() {
            return Err(ParseError {
                file: file.into(),
                line: 0,
                column: 0,
                message: "dockerfile contains no stages to build".into(),
            });
        }
        let lex = Lex::new(df.escape);
        let target_name = opts
            .target
            .clone()
            .or_else(|| df.stages.last().and_then(|s| s.name.clone()))
            .unwrap_or_default();
        let mut globals = default_args(&Platform::host(), &opts.build_args, &target_name);
        for c in &df.global_args {
            let Instruction::Arg { args } = &c.instruction else {
                continue;
            };
            for a in args {
                let v = match (opts.build_args.get(&a.key), &a.default) {
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(d)) => Some(
                        lex.process_word(d, &globals)
                            .map_err(|e| err(file, c.location, e.0))?,
                    ),
                    (None, None) => None,
                };
                if let Some(v) = v {
                    globals.set(&a.key, &v);
                }
            }
        }
        let mut stages: Vec<StageNode> = vec![];
        let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
        for (i, st) in df.stages.iter().enumerate() {
            let base_name = lex
                .process_word(&st.base, &globals)
                .map_err(|e| err(file, st.location, e.0))?;
            if base_name.is_empty() {
                return Err(err(
                    file,
                    st.location,
                    format!("base name ({}) should not be blank", st.base),
                ));
            }
            let platform = match &st.platform {
                None => None,
                Some(p) => {
                    let v = lex.process_word(p, &globals).map_err(|e| {
                        err(
                            file,
                            st.location,
                            format!("failed to process arguments for platform {p}: {}", e.0),
                        )
                    })?;
                    if v.is_empty() {
                        return Err(err(
                            file,
                            st.location,
                            format!("empty platform value from expression {p}"),
                        ));
                    }
                    Some(v)
                }
            };
            // Only earlier stages, matched exactly (BuildKit's statesByName).
            let base = if let Some(&j) = by_name.get(&base_name) {
                Base::Stage(j)
            } else if base_name == "scratch" {
                Base::Scratch
            } else {
                Base::Image(base_name)
            };
            let mut node = StageNode {
                index: i,
                name: st.name.clone(),
                base: base.clone(),
                platform,
                deps: vec![],
                images: vec![],
                dep_locations: vec![],
            };
            if let Base::Stage(j) = base {
                node.deps.push(j);
                node.dep_locations.push(st.location);
            }
            if let Some(n) = &st.name {
                by_name.insert(n.clone(), i);
            }
            stages.push(node);
        }
        let count = stages.len();
        for (i, st) in df.stages.iter().enumerate() {
            for c in &st.commands {
                let mut refs: Vec<(String, bool)> = vec![];
                match &c.instruction {
                    Instruction::Copy(cp) => {
                        if let Some(from) = &cp.from {
                            let r = lex
                                .process_word(from, &crate::shell::NoEnv)
                                .map_err(|e| err(file, c.location, e.0))?;
                            if &r != from {
                                return Err(err(file, c.location, "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround".into()));
                            }
                            refs.push((from.clone(), true));
                        }
                    }
                    Instruction::Run(r) => {
                        for m in &r.mounts {
                            if !m.from.is_empty() {
                                refs.push((m.from.clone(), false));
                            }
                        }
                    }
                    _ => {}
                }
                for (r, index_ok) in refs {
                    let dep = match r.parse::<i64>() {
                        Ok(n) if index_ok => {
                            if n < 0 || n as usize >= count {
                                return Err(err(
                                    file,
                                    c.location,
                                    format!("invalid stage index {n}"),
                                ));
                            }
                            Some(n as usize)
                        }
                        _ => by_name.get(&r.to_lowercase()).copied(),
                    };
                    match dep {
                        Some(d) => {
                            stages[i].deps.push(d);
                            stages[i].dep_locations.push(c.location);
                        }
                        None => stages[i].images.push(r),
                    }
                }
            }
        }
        let target = match &opts.target {
            None => count - 1,
            Some(t) => match by_name.get(&t.to_lowercase()) {
                Some(&i) => i,
                None => {
                    let names: Vec<&str> = by_name.keys().map(String::as_str).collect();
                    return Err(ParseError {
                        file: file.into(),
                        line: 0,
                        column: 0,
                        message: crate::instructions::suggest(
                            format!(
                                "target stage {} could not be found",
                                crate::shell::go_quote(t)
                            ),
                            t,
                            &names,
                            true,
                        ),
                    });
                }
            },
        };
        let g = Graph {
            global_args: globals,
            stages,
            target,
        };
        g.check_cycles(file)?;
        Ok(g)
    }

    fn stage_name(&self, i: usize) -> String {
        self.stages[i]
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{i}"))
    }

    fn check_cycles(&self, file: &str) -> Result<(), ParseError> {
        // 0 unvisited, 1 on the path, 2 done.
        let mut state = vec![0u8; self.stages.len()];
        fn visit(g: &Graph, i: usize, state: &mut [u8]) -> Option<Location> {
            state[i] = 1;
            for (k, &d) in g.stages[i].deps.iter().enumerate() {
                if state[d] == 1 {
                    return Some(g.stages[i].dep_locations[k]);
                }
                if state[d] == 0 {
                    if let Some(l) = visit(g, d, state) {
                        return Some(l);
                    }
                }
            }
            state[i] = 2;
            None
        }
        for i in 0..self.stages.len() {
            if state[i] == 0 {
                if let Some(loc) = visit(self, i, &mut state) {
                    return Err(err(
                        file,
                        loc,
                        format!(
                            "circular dependency detected on stage: {}",
                            self.stage_name(i)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The stages the target needs (itself included), each after the
    /// stages it reads.
    pub fn needed(&self) -> Vec<usize> {
        let mut out = vec![];
        let mut seen = vec![false; self.stages.len()];
        fn visit(g: &Graph, i: usize, seen: &mut [bool], out: &mut Vec<usize>) {
            if seen[i] {
                return;
            }
            seen[i] = true;
            for &d in &g.stages[i].deps {
                visit(g, d, seen, out);
            }
            out.push(i);
        }
        visit(self, self.target, &mut seen, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(s: &str, target: Option<&str>) -> Result<Graph, String> {
        let df = Dockerfile::parse("Dockerfile", s.as_bytes()).map_err(|e| e.to_string())?;
        let opts = GraphOptions {
            target: target.map(str::to_string),
            ..Default::default()
        };
        Graph::new("Dockerfile", &df, &opts).map_err(|e| e.to_string())
    }

    #[test]
    fn dag_and_target() {
        let df = "ARG BASE=busybox\nFROM $BASE AS a\nFROM scratch AS b\nCOPY --from=a /x /x\nFROM b AS c\nRUN --mount=type=bind,from=a,target=/m true\nFROM alpine AS unused\nFROM c\nCOPY --from=0 /y /y\nCOPY --from=nginx /z /z\n";
        let g = graph(df, None).unwrap();
        assert_eq!(g.stages[0].base, Base::Image("busybox".into()));
        assert_eq!(g.stages[1].base, Base::Scratch);
        assert_eq!(g.stages[2].base, Base::Stage(1));
        assert_eq!(g.stages[4].images, ["nginx"]);
        assert_eq!(g.needed(), vec![0, 1, 2, 4]);
        let g = graph(df, Some("B")).unwrap();
        assert_eq!(g.needed(), vec![0, 1]);
        assert_eq!(
            graph(df, Some("nope")).unwrap_err(),
            "Dockerfile: target stage \"nope\" could not be found"
        );
    }

    #[test]
    fn cycles_and_bad_refs() {
        assert_eq!(
            graph(
                "FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y\n",
                None
            )
            .unwrap_err(),
            "Dockerfile:4:1: circular dependency detected on stage: a"
        );
        assert_eq!(
            graph("FROM scratch\nCOPY --from=3 /x /x\n", None).unwrap_err(),
            "Dockerfile:2:1: invalid stage index 3"
        );
        assert!(graph("FROM scratch\nCOPY --from=$X /x /x\n", None)
            .unwrap_err()
            .contains("variable expansion is not supported for --from"));
        assert_eq!(
            graph("ARG X\nFROM ${X}\n", None).unwrap_err(),
            "Dockerfile:2:1: base name (${X}) should not be blank"
        );
    }

    #[test]
    fn platform_args_in_from() {
        let g = graph("FROM --platform=$BUILDPLATFORM busybox:$TARGETARCH\n", None).unwrap();
        let p = Platform::host();
        assert_eq!(g.stages[0].platform.as_deref(), Some(p.format().as_str()));
        assert_eq!(g.stages[0].base, Base::Image(format!("busybox:{}", p.arch)));
    }
}
