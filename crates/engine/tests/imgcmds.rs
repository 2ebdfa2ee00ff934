//! diff, export, commit and history through the engine's typed requests
//! and results, without the CLI: the results serialize to the Engine API's
//! shapes (`/containers/{id}/changes`, `/commit`, `/images/{name}/history`).
mod common;

use common::*;
use engine::commit::CommitRequest;
use engine::diff::{ChangeKind, DiffRequest};
use engine::export::ExportRequest;
use engine::history::HistoryRequest;

#[test]
fn diff_commit_history_export_through_the_engine() {
    let env = Env::new();
    env.import(
        "img",
        &image::ImportOptions::default(),
        &[("etc/keep", "keep\n"), ("etc/gone", "gone\n")],
    );
    let mut o = env.opts(&[
        "sh",
        "-c",
        "echo more >> /etc/keep; busybox rm /etc/gone; mkdir /new; echo n > /new/f",
    ]);
    o.image = "img".into();
    o.name = Some("work".into());
    let (code, _, err) = env.run(&o);
    assert_eq!(code, 0, "{err}");

    let changes = env
        .engine
        .diff(&DiffRequest {
            container: "work".into(),
        })
        .unwrap();
    assert_eq!(
        serde_json::to_value(&changes).unwrap(),
        serde_json::json!([
            {"Path": "/etc", "Kind": 0},
            {"Path": "/etc/gone", "Kind": 2},
            {"Path": "/etc/keep", "Kind": 0},
            {"Path": "/new", "Kind": 1},
            {"Path": "/new/f", "Kind": 1},
        ])
    );
    assert_eq!(changes[1].kind, ChangeKind::Deleted);

    let mut tar = Vec::new();
    env.engine
        .export(
            &ExportRequest {
                container: "work".into(),
            },
            &mut tar,
        )
        .unwrap();
    let mut files = std::collections::BTreeMap::new();
    for e in tar::Archive::new(&tar[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        let mut s = String::new();
        if e.header().entry_type() == tar::EntryType::Regular && !p.starts_with("bin/") {
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
        }
        files.insert(p, s);
    }
    assert_eq!(files["etc/keep"], "keep\nmore\n");
    assert_eq!(files["new/f"], "n\n");
    assert!(!files.contains_key("etc/gone"));

    let res = env
        .engine
        .commit(&CommitRequest {
            container: "work".into(),
            reference: Some(image::Reference::parse("done:1").unwrap()),
            author: Some("A <a@b>".into()),
            comment: Some("msg".into()),
            changes: vec![r#"CMD ["cat", "/new/f"]"#.into()],
            ..Default::default()
        })
        .unwrap();
    let v = serde_json::to_value(&res).unwrap();
    assert_eq!(v["Id"], serde_json::json!(res.id));

    let hist = env
        .engine
        .history(&HistoryRequest {
            image: "done:1".into(),
            platform: None,
        })
        .unwrap();
    let base = env.engine.images().resolve("img").unwrap().record.id;
    assert_eq!(hist.len(), 2);
    let top = serde_json::to_value(&hist[0]).unwrap();
    assert_eq!(top["Id"], serde_json::json!(res.id));
    assert_eq!(top["Tags"], serde_json::json!(["done:1"]));
    assert_eq!(top["Comment"], "msg");
    assert_eq!(
        top["CreatedBy"],
        "sh -c echo more >> /etc/keep; busybox rm /etc/gone; mkdir /new; echo n > /new/f"
    );
    assert!(hist[0].size > 0 && hist[0].created > 0);
    assert_eq!(hist[1].id, base.to_string());
    assert_eq!(hist[1].tags, Some(vec!["img:latest".to_string()]));

    let mut o = env.opts(&[]);
    o.image = "done:1".into();
    o.cmd.clear();
    let (code, out, err) = env.run(&o);
    assert_eq!((code, out.as_str()), (0, "n\n"), "{err}");
}
