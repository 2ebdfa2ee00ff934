//! `history`: an image's build history as the Engine API's
//! `GET /images/{name}/history` returns it, newest first.

use serde::Serialize;

use image::{chain_ids, Digest, Reference, Store};

use crate::error::{Error, Result};

/// What [`Store::history`] looks up.
#[derive(Debug, Clone, Default)]
pub struct HistoryRequest {
    /// Image name or id.
    pub image: String,
    /// `--platform`: the image must be one for this platform.
    pub platform: Option<image::Platform>,
}

/// One entry of `GET /images/{name}/history` (docker's
/// `image.HistoryResponseItem`), field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryItem {
    /// The image this entry made (`sha256:...`), or `<missing>` when no
    /// image in the store is known to end at it.
    pub id: String,
    /// Unix seconds (0 when the entry has no time).
    pub created: i64,
    /// The command that made the entry.
    pub created_by: String,
    /// The tags of the image [`HistoryItem::id`] names.
    pub tags: Option<Vec<String>>,
    /// Bytes the entry's layer adds (0 for an empty layer).
    pub size: i64,
    /// Comment.
    pub comment: String,
}

/// RFC 3339 time as Unix seconds (0 when it does not parse).
fn unix_seconds(s: &str) -> i64 {
    crate::timeutil::parse(s)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

impl crate::Engine {
    /// The history of an image, newest first, as docker reports it: each
    /// entry that added a layer has that layer's size; the newest entry
    /// names the image, and, following the `parent` a commit records, the
    /// entry each parent image ended at names that image; the others are
    /// `<missing>`.
    pub fn history(&self, req: &HistoryRequest) -> Result<Vec<HistoryItem>> {
        history(self.images(), req)
    }
}

fn history(store: &Store, req: &HistoryRequest) -> Result<Vec<HistoryItem>> {
    let info = store.resolve(&req.image)?;
    if let Some(want) = &req.platform {
        if want.match_rank(&info.record.platform).is_none() {
            let name = Reference::parse(&req.image)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| req.image.clone());
            return Err(Error::msg(format!(
                "image with reference {name} was found but does not match the specified platform: wanted {want}"
            )));
        }
    }
    let config = store.config(&info.record)?;
    let diffs = &config.rootfs.diff_ids;
    let chains = chain_ids(diffs);
    let mut items = Vec::new();
    let mut layer = 0usize;
    for h in &config.history {
        let mut size = 0i64;
        if !h.empty_layer {
            let Some(chain) = chains.get(layer) else {
                return Err(Error::msg(format!(
                    "image {}: too many non-empty layers in its history",
                    info.record.id
                )));
            };
            size = match store.snapshots().meta(chain) {
                Ok(m) => m.size as i64,
                Err(_) => info.record.layers.get(layer).map_or(0, |l| l.size as i64),
            };
            layer += 1;
        }
        items.push(HistoryItem {
            id: "<missing>".into(),
            created: h.created.as_deref().map_or(0, unix_seconds),
            created_by: h.created_by.clone().unwrap_or_default(),
            tags: None,
            size,
            comment: h.comment.clone().unwrap_or_default(),
        });
    }
    // Name the entries each image (this one, then its parents) ends at.
    let db = store.db()?;
    let tags_of = |id: &Digest| -> Option<Vec<String>> {
        let mut t: Vec<String> = db
            .tags
            .iter()
            .filter(|(_, d)| *d == id)
            .filter_map(|(name, _)| Reference::parse(name).ok())
            .map(|r| r.familiar())
            .collect();
        t.sort();
        (!t.is_empty()).then_some(t)
    };
    let mut cur = Some((info.record.id.clone(), config.history.len()));
    while let Some((id, end)) = cur.take() {
        let Some(item) = end.checked_sub(1).and_then(|i| items.get_mut(i)) else {
            break;
        };
        item.id = id.to_string();
        item.tags = tags_of(&id);
        let cfg = match store.read_config(&id) {
            Ok(c) => c,
            Err(_) => break,
        };
        let parent = cfg.parent.as_deref().filter(|p| !p.is_empty());
        if let Some(p) = parent.and_then(|p| store.resolve(p).ok()) {
            if let Ok(pc) = store.config(&p.record) {
                if pc.history.len() < end && config.history.starts_with(&pc.history) {
                    cur = Some((p.record.id.clone(), pc.history.len()));
                }
            }
        }
    }
    items.reverse();
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_the_engine_api_shape() {
        let h = HistoryItem {
            id: "<missing>".into(),
            created: 1704164645,
            created_by: "/bin/sh -c #(nop) CMD [\"sh\"]".into(),
            tags: None,
            size: 0,
            comment: String::new(),
        };
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r##"{"Id":"<missing>","Created":1704164645,"CreatedBy":"/bin/sh -c #(nop) CMD [\"sh\"]","Tags":null,"Size":0,"Comment":""}"##
        );
        assert_eq!(unix_seconds("2024-01-02T03:04:05.5Z"), 1704164645);
        assert_eq!(unix_seconds("nonsense"), 0);
    }
}
