//! Content-addressed cache keys: the key of a step is
//! `sha256(parent key, the instruction as normalised text with its
//! variables expanded, and for COPY/ADD from the context the digests of
//! exactly the files it takes)`. A change to a context file that no step
//! takes changes no key; a change to a copied file changes the key of that
//! step and of every step after it. Secrets are no input: a key never
//! depends on a secret's value, and proxy ARGs are left out as BuildKit
//! does.

use sha2::{Digest, Sha256};

use crate::context::{Context, ContextError};
use crate::instructions::{Instruction, Stage};
use crate::shell::{EnvList, Lex};
use crate::stages::PROXY_ARGS;

/// `sha256:` of the parts, each length-prefixed (no ambiguity).
pub fn step_key(parent: &str, instruction: &str, inputs: &str) -> String {
    let mut h = Sha256::new();
    for part in ["berth-build-cache-v1", parent, instruction, inputs] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Context(#[from] ContextError),
    #[error("line {line}: {message}")]
    Expand { line: usize, message: String },
}

/// The keys of a stage's steps, one per instruction, from the key of its
/// base (an image's config digest, another stage's last key, or
/// `scratch`). `env` is the base's environment (the image's Env); ENV and
/// ARG steps extend it as BuildKit's dispatch does; `build_args` are the
/// `--build-arg` values.
pub fn stage_keys(
    base_key: &str,
    stage: &Stage,
    escape: char,
    env: &EnvList,
    build_args: &std::collections::BTreeMap<String, String>,
    global_args: &EnvList,
    ctx: &Context,
) -> Result<Vec<String>, KeyError> {
    Ok(
        stage_step_keys(base_key, stage, escape, env, build_args, global_args, ctx)?
            .into_iter()
            .map(|k| k.chained)
            .collect(),
    )
}

/// A step's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepKey {
    /// Of the step after the steps before it ([`stage_keys`]).
    pub chained: String,
    /// Of the step alone: its expanded text and inputs, whatever comes
    /// before it (what a `COPY --link` layer depends on, with the
    /// directory its relative paths start from).
    pub own: String,
}

/// [`stage_keys`] with each step's own key too.
pub fn stage_step_keys(
    base_key: &str,
    stage: &Stage,
    escape: char,
    env: &EnvList,
    build_args: &std::collections::BTreeMap<String, String>,
    global_args: &EnvList,
    ctx: &Context,
) -> Result<Vec<StepKey>, KeyError> {
    let lex = Lex::new(escape);
    let mut env = env.clone();
    let mut keys = vec![];
    let mut parent = step_key(
        "",
        &format!("FROM {} {:?}", stage.base, stage.platform),
        base_key,
    );
    for c in &stage.commands {
        let line = c.location.line;
        let ex = |w: &str, env: &EnvList| {
            lex.process_word(w, env)
                .map_err(|e| KeyError::Expand { line, message: e.0 })
        };
        let mut inputs = String::new();
        let mut ins = c.instruction.clone();
        match &mut ins {
            Instruction::Env { env: kvs } => {
                for kv in kvs.iter_mut() {
                    kv.key = ex(&kv.key, &env)?;
                    kv.value = ex(&kv.value, &env)?;
                    env.set(&kv.key, &kv.value);
                }
            }
            Instruction::Label { labels } => {
                for kv in labels.iter_mut() {
                    kv.key = ex(&kv.key, &env)?;
                    kv.value = ex(&kv.value, &env)?;
                }
            }
            Instruction::Arg { args } => {
                for a in args.iter_mut() {
                    let v = match (build_args.get(&a.key), &a.default) {
                        (Some(v), _) => Some(v.clone()),
                        (None, Some(d)) => Some(ex(d, &env)?),
                        (None, None) => global_args
                            .iter()
                            .find(|(k, _)| *k == a.key)
                            .map(|(_, v)| v.to_string()),
                    };
                    if let Some(v) = &v {
                        env.set(&a.key, v);
                    }
                    a.default = v;
                }
            }
            Instruction::Workdir { path } => *path = ex(path, &env)?,
            Instruction::User { user } => *user = ex(user, &env)?,
            Instruction::Stopsignal { signal } => *signal = ex(signal, &env)?,
            Instruction::Volume { volumes } => {
                for v in volumes.iter_mut() {
                    *v = ex(v, &env)?;
                }
            }
            Instruction::Copy(cp) => {
                for s in cp.paths.sources.iter_mut() {
                    *s = ex(s, &env)?;
                }
                cp.paths.dest = ex(&cp.paths.dest, &env)?;
                cp.chown = ex(&cp.chown, &env)?;
                cp.chmod = ex(&cp.chmod, &env)?;
                if cp.from.is_none() {
                    inputs = ctx.sources_digest(&cp.paths.sources)?;
                }
            }
            Instruction::Add(a) => {
                for s in a.paths.sources.iter_mut() {
                    *s = ex(s, &env)?;
                }
                a.paths.dest = ex(&a.paths.dest, &env)?;
                a.chown = ex(&a.chown, &env)?;
                a.chmod = ex(&a.chmod, &env)?;
                let local: Vec<String> = a
                    .paths
                    .sources
                    .iter()
                    .filter(|s| !s.contains("://") && !s.starts_with("git@"))
                    .cloned()
                    .collect();
                inputs = ctx.sources_digest(&local)?;
            }
            Instruction::Run(r) => {
                let mut mounts = vec![];
                for spec in &r.mount_specs {
                    let m = crate::instructions::parse_mount(spec, &|v| {
                        lex.process_word(v, &env).map_err(|e| e.0)
                    })
                    .map_err(|message| KeyError::Expand { line, message })?;
                    mounts.push(m);
                }
                r.mounts = mounts;
                // The environment the command sees is part of the step
                // (proxy ARGs excepted).
                let vis: Vec<String> = env
                    .iter()
                    .filter(|(k, _)| !PROXY_ARGS.contains(k))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                inputs = vis.join("\0");
            }
            _ => {}
        }
        let text = serde_json::to_string(&ins).unwrap_or_default();
        let key = step_key(&parent, &text, &inputs);
        keys.push(StepKey {
            chained: key.clone(),
            own: step_key("", &text, &inputs),
        });
        parent = key;
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ignore::PatternMatcher;
    use crate::instructions::Dockerfile;
    use std::collections::BTreeMap;
    use std::path::Path;

    const DF: &str = "FROM scratch\nARG V=1\nCOPY a.txt /a\nRUN --mount=type=secret,id=tok,env=TOKEN echo $V\nCOPY src/ /src/\n";

    fn keys(dir: &Path, df: &str, args: &[(&str, &str)]) -> Vec<String> {
        let df = Dockerfile::parse("Dockerfile", df.as_bytes()).unwrap();
        let ctx = Context::from_dir(dir, &PatternMatcher::default()).unwrap();
        let args: BTreeMap<String, String> = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        stage_keys(
            "scratch",
            &df.stages[0],
            df.escape,
            &EnvList::new(),
            &args,
            &EnvList::new(),
            &ctx,
        )
        .unwrap()
    }

    fn setup() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("a.txt"), "a").unwrap();
        std::fs::write(t.path().join("unrelated.txt"), "u").unwrap();
        std::fs::create_dir(t.path().join("src")).unwrap();
        std::fs::write(t.path().join("src/main.rs"), "fn main(){}").unwrap();
        t
    }

    #[test]
    fn unrelated_file_keeps_every_key() {
        let t = setup();
        let k1 = keys(t.path(), DF, &[]);
        assert_eq!(k1.len(), 4);
        std::fs::write(t.path().join("unrelated.txt"), "changed").unwrap();
        std::fs::write(t.path().join("new-file"), "new").unwrap();
        assert_eq!(keys(t.path(), DF, &[]), k1);
    }

    #[test]
    fn copied_file_changes_its_step_and_after() {
        let t = setup();
        let k1 = keys(t.path(), DF, &[]);
        std::fs::write(t.path().join("a.txt"), "A").unwrap();
        let k2 = keys(t.path(), DF, &[]);
        assert_eq!(k1[0], k2[0], "ARG before the COPY");
        for i in 1..4 {
            assert_ne!(k1[i], k2[i], "step {i}");
        }
        // A file under a copied directory: only that COPY (the last step).
        let k3 = keys(t.path(), DF, &[]);
        std::fs::write(t.path().join("src/main.rs"), "fn main(){ }").unwrap();
        let k4 = keys(t.path(), DF, &[]);
        assert_eq!(k3[..3], k4[..3]);
        assert_ne!(k3[3], k4[3]);
    }

    #[test]
    fn build_args_change_run_but_proxy_args_do_not() {
        let t = setup();
        let k1 = keys(t.path(), DF, &[]);
        let k2 = keys(t.path(), DF, &[("V", "2")]);
        assert_ne!(k1[0], k2[0]);
        // Proxy values reach RUN undeclared and are never part of a key.
        let df = "FROM scratch\nRUN true\n";
        let a = keys(t.path(), df, &[("HTTP_PROXY", "http://a:3128")]);
        let b = keys(t.path(), df, &[("HTTP_PROXY", "http://b:3128")]);
        assert_eq!(a, b);
    }

    #[test]
    fn secrets_are_no_input() {
        // The key function takes no secret: the same Dockerfile and context
        // give the same keys whatever secret values a build is given; the
        // secret's id and target are part of the RUN's text, its value never.
        let t = setup();
        std::fs::write(t.path().join("secret.txt"), "s3cr3t-1").unwrap();
        let k1 = keys(t.path(), DF, &[]);
        std::fs::write(t.path().join("secret.txt"), "s3cr3t-2").unwrap();
        let k2 = keys(t.path(), DF, &[]);
        assert_eq!(k1, k2);
        let df = Dockerfile::parse("Dockerfile", DF.as_bytes()).unwrap();
        let text = serde_json::to_string(&df).unwrap();
        assert!(!text.contains("s3cr3t"));
    }

    #[test]
    fn missing_source_is_an_error() {
        let t = setup();
        let df = Dockerfile::parse("Dockerfile", b"FROM scratch\nCOPY ../etc/passwd /x\n").unwrap();
        let ctx = Context::from_dir(t.path(), &PatternMatcher::default()).unwrap();
        let e = stage_keys(
            "scratch",
            &df.stages[0],
            '\\',
            &EnvList::new(),
            &BTreeMap::new(),
            &EnvList::new(),
            &ctx,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "COPY source \"../etc/passwd\" is outside the build context"
        );
    }
}
