//! Bad input: one clear error naming the file, the field and the fault.

use std::path::Path;

use berth_compose::{load, LoadOptions};

fn load_dir(files: &[(&str, &str)]) -> Result<berth_compose::Project, String> {
    let dir = tempfile::tempdir().unwrap();
    for (n, c) in files {
        let p = dir.path().join(n);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, c).unwrap();
    }
    let mut o = LoadOptions::from_process();
    o.os_env = [("HOME".to_string(), "/root".to_string())]
        .into_iter()
        .collect();
    o.cwd = dir.path().to_path_buf();
    load(&o).map(|l| l.project).map_err(|e| e.to_string())
}

#[test]
fn yaml_error_names_the_file() {
    let e = load_dir(&[("compose.yaml", "services:\n  a: [\n")]).unwrap_err();
    assert!(
        e.contains("failed to parse") && e.contains("compose.yaml"),
        "{e}"
    );
}

#[test]
fn unknown_field_names_the_service() {
    let e = load_dir(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    imgae: y\n",
    )])
    .unwrap_err();
    assert!(
        e.contains("services.web additional properties 'imgae' not allowed"),
        "{e}"
    );
}

#[test]
fn bad_port_names_the_entry() {
    let e = load_dir(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    ports: [\"80\", \"1.2.3:80:80\"]\n",
    )])
    .unwrap_err();
    assert!(
        e.contains("services.web.ports[1]") && e.contains("Invalid ip address"),
        "{e}"
    );
}

#[test]
fn depends_on_cycle() {
    let e = load_dir(&[(
        "compose.yaml",
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
    )])
    .unwrap_err();
    assert!(e.contains("dependency cycle detected"), "{e}");
}

#[test]
fn missing_required_variable() {
    let e = load_dir(&[(
        "compose.yaml",
        "services:\n  a:\n    image: \"x:${TAG:?set TAG}\"\n",
    )])
    .unwrap_err();
    assert!(
        e.ends_with(
            "compose.yaml: error while interpolating services.a.image: required variable TAG is missing a value: set TAG"
        ),
        "{e}"
    );
}

#[test]
fn extends_loop() {
    let e = load_dir(&[(
        "compose.yaml",
        "services:\n  a: {image: x, extends: b}\n  b: {image: x, extends: a}\n",
    )])
    .unwrap_err();
    assert!(e.starts_with("Circular reference:"), "{e}");
}

#[test]
fn undefined_volume_and_network() {
    let e = load_dir(&[(
        "compose.yaml",
        "services:\n  a: {image: x, volumes: [\"data:/d\"]}\n",
    )])
    .unwrap_err();
    assert!(e.contains("refers to undefined volume data"), "{e}");
    let e = load_dir(&[(
        "compose.yaml",
        "services:\n  a: {image: x, networks: [n]}\n",
    )])
    .unwrap_err();
    assert!(e.contains("refers to undefined network n"), "{e}");
}

#[test]
fn lookup_upward_and_project_name() {
    let p = load_dir(&[("compose.yaml", "services:\n  a: {image: x}\n")]).unwrap();
    assert!(!p.name.is_empty());
    // found from a subdirectory
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("My.Project");
    std::fs::create_dir_all(proj.join("sub/deeper")).unwrap();
    std::fs::write(
        proj.join("docker-compose.yml"),
        "services:\n  a: {image: x}\n",
    )
    .unwrap();
    let mut o = LoadOptions::from_process();
    o.os_env.clear();
    o.cwd = proj.join("sub/deeper");
    let p = load(&o).unwrap().project;
    assert_eq!(p.name, "myproject");
    assert_eq!(p.working_dir, proj.display().to_string());
    o.project_name = Some("Bad Name".into());
    assert!(load(&o)
        .unwrap_err()
        .to_string()
        .contains("invalid project name"));
    o.project_name = None;
    o.os_env
        .insert("COMPOSE_PROJECT_NAME".into(), "fromenv".into());
    assert_eq!(load(&o).unwrap().project.name, "fromenv");
    assert!(Path::new(&p.compose_files[0]).ends_with("docker-compose.yml"));
}

#[test]
fn profiles_and_compose_profiles() {
    let src = "services:\n  a: {image: x}\n  d: {image: x, profiles: [debug]}\n";
    let p = load_dir(&[("compose.yaml", src)]).unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), ["a"]);
    assert!(p.disabled_services.contains_key("d"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), src).unwrap();
    let mut o = LoadOptions::from_process();
    o.os_env = [("COMPOSE_PROFILES".to_string(), "debug".to_string())]
        .into_iter()
        .collect();
    o.cwd = dir.path().to_path_buf();
    assert_eq!(load(&o).unwrap().project.services.len(), 2);
}

/// The fuzz target's property on the corpus: the printed model is a compose
/// file that loads into the same model.
#[test]
fn printed_model_loads_back_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/compose");
    let mut n = 0;
    for group in ["own", "awesome"] {
        for e in std::fs::read_dir(root.join(group)).unwrap().flatten() {
            if !e.path().is_dir() {
                continue;
            }
            let mut o = LoadOptions::from_process();
            o.os_env = [("HOME".to_string(), "/root".to_string())]
                .into_iter()
                .collect();
            o.cwd = e.path();
            let Ok(l) = load(&o) else { continue };
            let json = l.project.to_json();
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("compose.yaml"), &json).unwrap();
            o.cwd = dir.path().to_path_buf();
            o.project_name = Some(l.project.name.clone());
            let again = load(&o).unwrap_or_else(|e| panic!("{e}\n{json}"));
            assert_eq!(again.project.to_json(), json, "{}", o.cwd.display());
            n += 1;
        }
    }
    assert!(n >= 20);
}
