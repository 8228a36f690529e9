//! The recording format: NDJSON, one Celery event dict per line, optionally opened by a
//! header record `{"type": "celtrace.recording", "version": 1, ...}`. Readers accept files
//! without a header, and every shape `model::decode` understands.

use crate::model::{Event, EventKind};

/// The newest recording format version this build reads and writes.
pub const FORMAT_VERSION: u64 = 1;
/// The `type` of the header record.
pub const HEADER_TYPE: &str = "celtrace.recording";

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot open recording `{path}`")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read recording `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "recording format version {found} is newer than this celtrace reads ({FORMAT_VERSION})"
    )]
    Version { found: u64 },
}

/// Fails on a header that announces a newer format; everything else passes.
pub fn check_header(ev: &Event<'_>) -> Result<(), RecordError> {
    if ev.kind != EventKind::Celtrace || ev.type_name != HEADER_TYPE {
        return Ok(());
    }
    let version = ev
        .extra
        .iter()
        .find(|(k, _)| k == "version")
        .and_then(|(_, v)| serde_json::from_str::<u64>(v.get()).ok());
    match version {
        Some(found) if found > FORMAT_VERSION => Err(RecordError::Version { found }),
        _ => Ok(()),
    }
}

/// The header line celtrace writes at the top of a recording.
pub fn header_line(created: &str) -> String {
    serde_json::json!({
        "type": HEADER_TYPE,
        "version": FORMAT_VERSION,
        "created": created,
        "producer": concat!("celtrace ", env!("CARGO_PKG_VERSION")),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::decode::decode_entry;

    fn first_event(line: &str) -> Event<'static> {
        let mut out = Vec::new();
        decode_entry(line, &mut Vec::new(), &mut |e| {
            out.push(e.clone().into_owned());
        });
        out.remove(0)
    }

    #[test]
    fn our_header_reads_back_and_newer_versions_are_refused() {
        let header = first_event(&header_line("2026-11-22T07:47:00Z"));
        assert_eq!(header.kind, EventKind::Celtrace);
        assert!(check_header(&header).is_ok());
        let newer = first_event(r#"{"type": "celtrace.recording", "version": 2}"#);
        assert!(matches!(
            check_header(&newer),
            Err(RecordError::Version { found: 2 })
        ));
        let plain = first_event(r#"{"type": "task-started", "uuid": "u"}"#);
        assert!(check_header(&plain).is_ok());
    }
}
