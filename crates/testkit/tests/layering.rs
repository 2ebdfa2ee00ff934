//! The workspace's module layering: within each crate, no module imports
//! a sibling that imports it back (directly or through others). A module
//! is a file or directory under `src/` (its submodules count as it); an
//! import is any `crate::NAME` path outside comments and `#[cfg(test)]`
//! code. A cycle fails with the modules and the edges that close it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn strip(src: &str) -> String {
    let src = src.split("#[cfg(test)]").next().unwrap_or("");
    src.lines()
        .map(|l| match l.find("//") {
            // (A `//` inside a string literal is rare enough in `use` lines.)
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules `src` names through `crate::`.
fn imports(src: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = src;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let before_ok = rest[..i]
            .chars()
            .last()
            .map_or(true, |c| !(c.is_ascii_alphanumeric() || c == '_'));
        if before_ok {
            if let Some(list) = after.strip_prefix('{') {
                let inner = &list[..list.find('}').unwrap_or(list.len())];
                for item in inner.split(',') {
                    let n = ident(item.trim());
                    if !n.is_empty() {
                        out.insert(n.to_string());
                    }
                }
            } else {
                let n = ident(after);
                if !n.is_empty() {
                    out.insert(n.to_string());
                }
            }
        }
        rest = after;
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

fn graph(src_dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    walk(src_dir, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(src_dir).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if matches!(top.as_str(), "lib" | "main") {
            continue;
        }
        let src = std::fs::read_to_string(f).unwrap();
        let deps = imports(&strip(&src));
        g.entry(top.clone()).or_default().extend(deps);
    }
    let names: BTreeSet<String> = g.keys().cloned().collect();
    for (m, deps) in g.iter_mut() {
        deps.retain(|d| d != m && names.contains(d));
    }
    g
}

/// A cycle through `start`, if any (depth-first).
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn dfs(
        g: &BTreeMap<String, BTreeSet<String>>,
        v: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == v) {
            let mut c = path[i..].to_vec();
            c.push(v.to_string());
            return Some(c);
        }
        if done.contains(v) {
            return None;
        }
        path.push(v.to_string());
        for w in g.get(v).into_iter().flatten() {
            if let Some(c) = dfs(g, w, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(v.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for v in g.keys() {
        if let Some(c) = dfs(g, v, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_module_imports_a_sibling_that_imports_it_back() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut bad = Vec::new();
    let mut seen = 0;
    for e in std::fs::read_dir(&crates).unwrap().flatten() {
        let src = e.path().join("src");
        if !src.is_dir() {
            continue;
        }
        seen += 1;
        if let Some(c) = cycle(&graph(&src)) {
            bad.push(format!(
                "{}: {}",
                e.file_name().to_string_lossy(),
                c.join(" -> ")
            ));
        }
    }
    assert!(
        seen >= 10,
        "found only {seen} crates under {}",
        crates.display()
    );
    assert!(bad.is_empty(), "module cycles:\n{}", bad.join("\n"));
}

#[test]
fn the_check_sees_a_cycle() {
    let dir = std::env::temp_dir().join(format!("berth-layering-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::write(dir.join("a.rs"), "use crate::b::X; // crate::c\n").unwrap();
    std::fs::write(dir.join("b/mod.rs"), "use crate::{c, d::Y};\n").unwrap();
    std::fs::write(
        dir.join("c.rs"),
        "fn f() { crate::a::g() }\n#[cfg(test)]\nuse crate::d;",
    )
    .unwrap();
    std::fs::write(dir.join("d.rs"), "pub struct Y; // use crate::a\n").unwrap();
    let g = graph(&dir);
    let c = cycle(&g);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(g["d"], BTreeSet::new());
    let c = c.expect("a -> b -> c -> a");
    assert_eq!(c.first(), c.last());
    assert!(
        c.contains(&"a".to_string())
            && c.contains(&"b".to_string())
            && c.contains(&"c".to_string())
    );
}
