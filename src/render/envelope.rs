//! The one envelope of everything celtrace prints for programs (docs/json.md): a JSON document
//! is `{"version", "kind", "generated_at", ...body}`; an NDJSON stream is a `begin` record
//! with the same head, one record per item and an `end` record; CSV is a header row and one
//! row per item. Every command's JSON goes through here, so the head is declared once.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::fmt::rfc3339;
use super::schema::SCHEMA_VERSION;
use crate::query::time::epoch;

/// What every JSON document and NDJSON `begin` record starts with.
#[derive(Debug, Clone, Serialize)]
pub struct Head {
    pub version: u32,
    pub kind: &'static str,
    pub generated_at: String,
}

impl Head {
    pub fn new(kind: &'static str, now: DateTime<Utc>) -> Self {
        Self {
            version: SCHEMA_VERSION,
            kind,
            generated_at: rfc3339(epoch(now)).unwrap_or_default(),
        }
    }
}

#[derive(Serialize)]
struct Doc<'b, B: Serialize> {
    #[serde(flatten)]
    head: Head,
    #[serde(flatten)]
    body: &'b B,
}

/// A JSON document: the head, then the body's fields; pretty, with a final newline.
pub fn json<B: Serialize>(
    out: &mut dyn Write,
    kind: &'static str,
    now: DateTime<Utc>,
    body: &B,
) -> io::Result<()> {
    let doc = Doc {
        head: Head::new(kind, now),
        body,
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// One NDJSON record: `{"type": ..., "data": ...}`.
pub fn record<T: Serialize>(out: &mut dyn Write, kind: &str, data: &T) -> io::Result<()> {
    #[derive(Serialize)]
    struct Line<'a, T: Serialize> {
        #[serde(rename = "type")]
        kind: &'a str,
        data: &'a T,
    }
    serde_json::to_writer(&mut *out, &Line { kind, data })?;
    writeln!(out)
}

/// An NDJSON stream: `begin` (the head), one `item_type` record per item, and `end`, which
/// carries the count and the `end` body's fields.
pub fn ndjson<I: Serialize, E: Serialize>(
    out: &mut dyn Write,
    kind: &'static str,
    now: DateTime<Utc>,
    item_type: &str,
    items: impl IntoIterator<Item = I>,
    end: &E,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct End<'e, E: Serialize> {
        count: usize,
        #[serde(flatten)]
        rest: &'e E,
    }
    record(out, "begin", &Head::new(kind, now))?;
    let mut count = 0;
    for item in items {
        record(out, item_type, &item)?;
        count += 1;
    }
    record(out, "end", &End { count, rest: end })
}

/// CSV of items: a header row of `columns`, then per item the value at each column. A column
/// names a field, or a nested one with dots (`runtime.p50`). Strings are written as they are,
/// numbers as JSON writes them, null as an empty cell, lists and objects as JSON text.
pub fn csv<I: Serialize>(
    out: &mut dyn Write,
    columns: &[&str],
    items: impl IntoIterator<Item = I>,
) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(columns)?;
    for item in items {
        let value = serde_json::to_value(&item)?;
        let row = columns.iter().map(|c| {
            let found = c.split('.').try_fold(&value, |v, key| v.get(key));
            match found {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            }
        });
        w.write_record(row)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_795_333_620, 0).unwrap_or_default()
    }

    #[test]
    fn a_document_starts_with_the_head_then_the_body() {
        #[derive(Serialize)]
        struct Body {
            count: usize,
        }
        let mut out = Vec::new();
        json(&mut out, "things", now(), &Body { count: 3 }).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["version"], SCHEMA_VERSION);
        assert_eq!(v["kind"], "things");
        assert_eq!(v["generated_at"], "2026-11-22T07:47:00.000000Z");
        assert_eq!(v["count"], 3);
    }

    #[test]
    fn a_stream_counts_its_items_in_the_end_record() {
        let mut out = Vec::new();
        let end = serde_json::json!({"diagnostics": null});
        ndjson(&mut out, "things", now(), "thing", [1, 2], &end).unwrap();
        let lines: Vec<serde_json::Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["type"], "begin");
        assert_eq!(lines[0]["data"]["kind"], "things");
        assert_eq!(lines[2]["data"], 2);
        assert_eq!(lines[3]["data"]["count"], 2);
        assert!(lines[3]["data"]["diagnostics"].is_null());
    }

    #[test]
    fn csv_cells_follow_nested_columns() {
        let items = [serde_json::json!({"name": "a,b", "run": {"p50": 1.5}, "tags": ["x"]})];
        let mut out = Vec::new();
        csv(&mut out, &["name", "run.p50", "tags", "missing"], items).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "name,run.p50,tags,missing\n\"a,b\",1.5,\"[\"\"x\"\"]\",\n"
        );
    }
}
