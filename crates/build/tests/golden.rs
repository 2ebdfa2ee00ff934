//! The Dockerfile corpus of tests/build/dockerfiles: each `NAME.Dockerfile`
//! parses to the typed instructions in `NAME.json`, each
//! `err-NAME.Dockerfile` fails with exactly the message in
//! `err-NAME.err`. `BLESS=1 cargo test -p berth-build --test golden`
//! rewrites the expected files (review the diff).

use std::path::Path;

#[test]
fn dockerfile_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/build/dockerfiles");
    let bless = std::env::var_os("BLESS").is_some();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    names.sort();
    assert!(names.len() >= 10);
    let mut failures = vec![];
    for p in names {
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&p).unwrap();
        let got = match build::instructions::Dockerfile::parse("Dockerfile", &data) {
            Ok(df) => {
                assert!(!stem.starts_with("err-"), "{stem} parsed");
                serde_json::to_string_pretty(&df).unwrap() + "\n"
            }
            Err(e) => {
                assert!(stem.starts_with("err-"), "{stem}: {e}");
                format!("{e}\n")
            }
        };
        let ext = if stem.starts_with("err-") {
            "err"
        } else {
            "json"
        };
        let want_path = dir.join(format!("{stem}.{ext}"));
        if bless {
            std::fs::write(&want_path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&want_path).unwrap_or_default();
        if want != got {
            failures.push(format!("{stem}:\n--- want\n{want}--- got\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
