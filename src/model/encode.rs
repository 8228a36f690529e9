//! Events back to the recording format: one Celery event dict as JSON, with Celery's field
//! names, the fields celtrace does not model written back verbatim. `decode` of the output
//! gives the same event (tested). Pure.

use serde::ser::{SerializeMap, Serializer};

use super::Event;

/// Appends the event as one JSON object (no newline) to `out`.
pub fn write_event(ev: &Event<'_>, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let mut ser = serde_json::Serializer::new(out);
    let mut m = ser.serialize_map(None)?;
    macro_rules! put {
        ($($key:literal => $value:expr),* $(,)?) => {
            $(if let Some(v) = &$value {
                m.serialize_entry($key, v)?;
            })*
        };
    }
    m.serialize_entry("type", &ev.type_name)?;
    put! {
        "hostname" => ev.hostname,
        "utcoffset" => ev.utcoffset,
        "pid" => ev.pid,
        "clock" => ev.clock,
        "timestamp" => ev.timestamp,
        "uuid" => ev.uuid,
        "name" => ev.name,
        "args" => ev.args,
        "kwargs" => ev.kwargs,
        "root_id" => ev.root_id,
        "parent_id" => ev.parent_id,
        "retries" => ev.retries,
        "eta" => ev.eta,
        "expires" => ev.expires,
        "queue" => ev.queue,
        "exchange" => ev.exchange,
        "routing_key" => ev.routing_key,
        "result" => ev.result,
        "exception" => ev.exception,
        "traceback" => ev.traceback,
        "runtime" => ev.runtime,
        "terminated" => ev.terminated,
        "signum" => ev.signum,
        "expired" => ev.expired,
        "requeue" => ev.requeue,
        "freq" => ev.freq,
        "active" => ev.active,
        "processed" => ev.processed,
        "loadavg" => ev.loadavg,
        "sw_ident" => ev.sw_ident,
        "sw_ver" => ev.sw_ver,
        "sw_sys" => ev.sw_sys,
        "local_received" => ev.local_received,
    }
    for (k, v) in &ev.extra {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::decode::decode_entry;

    fn round_trip(text: &str) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut first = Vec::new();
            decode_entry(line, &mut Vec::new(), &mut |e| {
                first.push(e.clone().into_owned());
            });
            for ev in first {
                let mut out = Vec::new();
                write_event(&ev, &mut out).unwrap();
                let text = String::from_utf8(out).unwrap();
                let mut again = Vec::new();
                decode_entry(&text, &mut Vec::new(), &mut |e| {
                    again.push(e.clone().into_owned());
                });
                assert_eq!(format!("{ev:?}"), format!("{:?}", again[0]), "{text}");
            }
        }
    }

    #[test]
    fn every_captured_event_round_trips() {
        round_trip(include_str!(
            "../../tests/fixtures/celery-5.7/redis/retry.events.ndjson"
        ));
        round_trip(include_str!(
            "../../tests/fixtures/celery-5.7/redis/time_limits.events.ndjson"
        ));
        round_trip(include_str!(
            "../../tests/fixtures/celery-5.7/redis/custom_event.events.ndjson"
        ));
        round_trip(include_str!(
            "../../tests/fixtures/celery-5.7/redis/worker_restart.events.ndjson"
        ));
        round_trip(include_str!(
            "../../tests/fixtures/celery-5.7/redis/long_args.events.ndjson"
        ));
        round_trip(include_str!(
            "../../tests/fixtures/celery-5.7/redis/backend.ndjson"
        ));
    }
}
