//! history, diff, export, commit: flags in, the engine's typed results out.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};

use ::engine::commit::CommitRequest;
use ::engine::diff::DiffRequest;
use ::engine::export::ExportRequest;
use ::engine::history::{HistoryItem, HistoryRequest};

use super::containers::{ellipsis, op_err};
use super::{out, out_raw, parse_ref, CmdResult};
use crate::cli::changes::{CommitArgs, DiffArgs, ExportArgs, HistoryArgs};
use crate::error::{image_message, CliError};
use crate::fmt::{human_size, since};
use crate::Globals;

/// An engine error with the image wording where it is an image's.
fn eng_err(e: ::engine::Error) -> CliError {
    match e {
        ::engine::Error::Image(e) => CliError::new(image_message(&e)),
        e => op_err(e),
    }
}

const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

const HISTORY_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

/// One history row as docker's formatter fields (`historyContext`).
fn history_row(h: &HistoryItem, human: bool, trunc: bool) -> Value {
    let created_at = if h.created > 0 {
        let t = UNIX_EPOCH + Duration::from_secs(h.created as u64);
        berth_util::time::format(t).replace(".000000000", "")
    } else {
        String::new()
    };
    let created_since = if !human {
        created_at.clone()
    } else {
        since((h.created > 0).then_some(h.created as f64))
    };
    let created_by = h.created_by.replace('\t', " ");
    json!({
        "Comment": h.comment,
        "CreatedAt": created_at,
        "CreatedBy": if trunc { ellipsis(&created_by, 45) } else { created_by },
        "CreatedSince": created_since,
        "ID": if trunc { ::engine::fsutil::short_id(&h.id).to_string() } else { h.id.clone() },
        "Size": if human { human_size(h.size.max(0) as u64) } else { h.size.to_string() },
    })
}

pub fn history(g: &Globals, a: HistoryArgs) -> CmdResult {
    let format = super::list_format(a.format.as_deref(), HISTORY_TABLE)?;
    let platform = match a.platform.as_deref() {
        Some(p) => Some(
            image::Platform::parse(p)
                .map_err(|e| CliError::new(format!("invalid platform: {}", image_message(&e))))?,
        ),
        None => None,
    };
    let eng = g.engine()?;
    let items = eng
        .history(&HistoryRequest {
            image: a.image.clone(),
            platform,
        })
        .map_err(eng_err)?;
    let rows: Vec<Value> = items
        .iter()
        .map(|h| history_row(h, a.human, !a.no_trunc))
        .collect();
    if a.quiet {
        let mut s = String::new();
        for r in &rows {
            s.push_str(r["ID"].as_str().unwrap_or_default());
            s.push('\n');
        }
        return out_raw(&s);
    }
    super::print_list(&format, HISTORY_HEADERS, &rows)
}

pub fn diff(g: &Globals, a: DiffArgs) -> CmdResult {
    let eng = g.engine()?;
    let changes = eng
        .diff(&DiffRequest {
            container: a.container,
        })
        .map_err(eng_err)?;
    let mut s = String::new();
    for c in &changes {
        s.push(c.kind.letter());
        s.push(' ');
        s.push_str(&c.path);
        s.push('\n');
    }
    out_raw(&s)
}

pub fn export(g: &Globals, a: ExportArgs) -> CmdResult {
    let eng = g.engine()?;
    let req = ExportRequest {
        container: a.container,
    };
    super::archive::write_archive(a.output.as_deref(), "failed to export container", |w| {
        eng.export(&req, w).map_err(|e| match e {
            ::engine::Error::Io { source, .. }
                if source.kind() == std::io::ErrorKind::BrokenPipe =>
            {
                CliError::silent(1)
            }
            e => eng_err(e),
        })
    })
}

pub fn commit(g: &Globals, a: CommitArgs) -> CmdResult {
    if a.pause.is_some() && a.no_pause {
        return Err(CliError::new(
            "conflicting options: --no-pause and --pause cannot be used together",
        ));
    }
    let reference = match &a.reference {
        Some(r) => Some(parse_ref(r)?),
        None => None,
    };
    let eng = g.engine()?;
    let res = eng
        .commit(&CommitRequest {
            container: a.container,
            reference,
            author: a.author,
            comment: a.message,
            changes: a.change,
            pause: a.pause.unwrap_or(true) && !a.no_pause,
        })
        .map_err(eng_err)?;
    out(&res.id)
}
