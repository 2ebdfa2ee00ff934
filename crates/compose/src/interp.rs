//! Interpolation of a whole tree (compose-go's `interpolation` package and
//! the loader's cast table: a string at `services.*.tty` becomes a bool...).

use serde_json::{Number, Value};

use crate::template::{self, TemplateError};
use crate::tree::{self, Path};
use crate::Error;

#[derive(Clone, Copy)]
enum Cast {
    Int,
    Float,
    Bool,
}

const CASTS: &[(&str, Cast)] = &[
    ("services.*.cpu_count", Cast::Int),
    ("services.*.cpu_percent", Cast::Float),
    ("services.*.cpu_period", Cast::Int),
    ("services.*.cpu_quota", Cast::Int),
    ("services.*.cpu_rt_period", Cast::Int),
    ("services.*.cpu_rt_runtime", Cast::Int),
    ("services.*.cpus", Cast::Float),
    ("services.*.cpu_shares", Cast::Int),
    ("services.*.init", Cast::Bool),
    ("services.*.deploy.replicas", Cast::Int),
    ("services.*.deploy.update_config.parallelism", Cast::Int),
    (
        "services.*.deploy.update_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.rollback_config.parallelism", Cast::Int),
    (
        "services.*.deploy.rollback_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.restart_policy.max_attempts", Cast::Int),
    (
        "services.*.deploy.placement.max_replicas_per_node",
        Cast::Int,
    ),
    ("services.*.healthcheck.retries", Cast::Int),
    ("services.*.healthcheck.disable", Cast::Bool),
    ("services.*.oom_kill_disable", Cast::Bool),
    ("services.*.oom_score_adj", Cast::Int),
    ("services.*.pids_limit", Cast::Int),
    ("services.*.ports.[].target", Cast::Int),
    ("services.*.privileged", Cast::Bool),
    ("services.*.read_only", Cast::Bool),
    ("services.*.scale", Cast::Int),
    ("services.*.stdin_open", Cast::Bool),
    ("services.*.tty", Cast::Bool),
    ("services.*.ulimits.*", Cast::Int),
    ("services.*.ulimits.*.hard", Cast::Int),
    ("services.*.ulimits.*.soft", Cast::Int),
    ("services.*.volumes.[].read_only", Cast::Bool),
    ("services.*.volumes.[].volume.nocopy", Cast::Bool),
    ("networks.*.external", Cast::Bool),
    ("networks.*.internal", Cast::Bool),
    ("networks.*.attachable", Cast::Bool),
    ("networks.*.enable_ipv4", Cast::Bool),
    ("networks.*.enable_ipv6", Cast::Bool),
    ("volumes.*.external", Cast::Bool),
    ("secrets.*.external", Cast::Bool),
    ("configs.*.external", Cast::Bool),
];

/// Parses a boolean as compose does (`yes`/`no`/`on`/`off` accepted with a
/// warning in compose; accepted here).
pub fn to_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "y" | "yes" | "on" => Ok(true),
        "false" | "n" | "no" | "off" => Ok(false),
        _ => Err(format!("invalid boolean: {s}")),
    }
}

fn cast(c: Cast, s: &str) -> Result<Value, String> {
    match c {
        Cast::Int => s
            .parse::<i64>()
            .map(|i| Value::Number(i.into()))
            .map_err(|_| format!("strconv.Atoi: parsing {s:?}: invalid syntax")),
        Cast::Float => s
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        Cast::Bool => to_bool(s).map(Value::Bool),
    }
}

/// Interpolates every string of `v` (a compose file's top level).
pub fn interpolate(
    v: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    warn: &mut dyn FnMut(String),
) -> Result<(), Error> {
    walk(v, &mut Vec::new(), lookup, warn)
}

fn walk(
    v: &mut Value,
    path: &mut Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    warn: &mut dyn FnMut(String),
) -> Result<(), Error> {
    match v {
        Value::String(s) => {
            for name in template::unset_variables(s, lookup) {
                warn(format!(
                    "The {name:?} variable is not set. Defaulting to a blank string."
                ));
            }
            let out = template::substitute(s, lookup).map_err(|e| match e {
                TemplateError::Invalid(t) => Error::new(format!(
                    "invalid interpolation format for {}.\nYou may need to escape any $ with another $.\n{t}",
                    tree::show(path)
                )),
                e => Error::new(format!("error while interpolating {}: {e}", tree::show(path))),
            })?;
            if let Some((_, c)) = CASTS.iter().find(|(p, _)| tree::matches(path, p)) {
                *v = cast(*c, &out).map_err(|e| {
                    Error::new(format!(
                        "error while interpolating {}: failed to cast to expected type: {e}",
                        tree::show(path)
                    ))
                })?;
            } else {
                *s = out;
            }
        }
        Value::Object(m) => {
            for (k, e) in m.iter_mut() {
                path.push(k.clone());
                let r = walk(e, path, lookup, warn);
                path.pop();
                r?;
            }
        }
        Value::Array(a) => {
            for e in a.iter_mut() {
                path.push("[]".to_string());
                let r = walk(e, path, lookup, warn);
                path.pop();
                r?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn casts_and_errors() {
        let mut v = json!({"services": {"w": {"tty": "${T}", "ports": [{"target": "80"}], "image": "x:${T}"}}});
        let lookup = |k: &str| (k == "T").then(|| "true".to_string());
        interpolate(&mut v, &lookup, &mut |_| {}).unwrap();
        assert_eq!(v["services"]["w"]["tty"], json!(true));
        assert_eq!(v["services"]["w"]["ports"][0]["target"], json!(80));
        assert_eq!(v["services"]["w"]["image"], json!("x:true"));
        let mut bad = json!({"services": {"w": {"image": "${NOPE:?set it}"}}});
        let e = interpolate(&mut bad, &lookup, &mut |_| {}).unwrap_err();
        assert_eq!(
            e.to_string(),
            "error while interpolating services.w.image: required variable NOPE is missing a value: set it"
        );
    }
}
