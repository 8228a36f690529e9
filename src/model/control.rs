//! Remote-control (pidbox) messages as data (PROTOCOL.md §5): the broadcast request, its
//! Redis envelope, and the replies. Pure: ids, clocks and times are passed in.

use base64::Engine as _;
use serde_json::{Value, json};

/// Celery's broadcast exchange and the exchange replies come back on.
pub const PIDBOX_EXCHANGE: &str = "celery.pidbox";
pub const REPLY_EXCHANGE: &str = "reply.celery.pidbox";

/// The `inspect` methods `workers --inspect` asks, with their arguments.
pub const INSPECT: [(&str, &str); 6] = [
    ("stats", "{}"),
    ("active", "{}"),
    ("reserved", "{}"),
    ("scheduled", "{}"),
    ("registered", r#"{"taskinfoitems": []}"#),
    ("active_queues", "{}"),
];

/// A request for every worker (`destination` null) whose replies go to `reply_key`.
pub fn request(method: &str, arguments: Value, ticket: &str, reply_key: &str) -> Value {
    json!({
        "method": method,
        "arguments": arguments,
        "destination": null,
        "pattern": null,
        "matcher": null,
        "ticket": ticket,
        "reply_to": {"exchange": REPLY_EXCHANGE, "routing_key": reply_key},
    })
}

/// The kombu envelope a Redis broadcast is PUBLISHed as (§5.2): base64 body, persistent,
/// `delivery_info` and `delivery_tag` present (without them a worker drops the message).
pub fn redis_envelope(body: &Value, clock: u64, expires: f64, delivery_tag: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(body.to_string());
    json!({
        "body": b64,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"clock": clock, "expires": expires},
        "properties": {
            "delivery_mode": 2,
            "delivery_info": {"exchange": PIDBOX_EXCHANGE, "routing_key": ""},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": delivery_tag,
        },
    })
    .to_string()
}

/// A reply: `(ticket, node, result)`. Accepts a Redis envelope (base64 body, ticket in its
/// headers) or an AMQP body with the ticket given by the message headers.
pub fn parse_reply(payload: &str, header_ticket: Option<&str>) -> Option<(String, String, Value)> {
    let v: Value = serde_json::from_str(payload).ok()?;
    let (body, ticket) = match v.get("body").and_then(Value::as_str) {
        Some(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            let body: Value = serde_json::from_slice(&bytes).ok()?;
            let ticket = v
                .pointer("/headers/ticket")
                .and_then(Value::as_str)
                .map(str::to_string);
            (body, ticket)
        }
        None => (v, header_ticket.map(str::to_string)),
    };
    let (node, result) = body.as_object()?.iter().next()?;
    Some((ticket?, node.clone(), result.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_request_decodes_as_celery_sends_it() {
        let body = request("active", json!({}), "T1", "R1");
        let env = redis_envelope(&body, 3, 100.5, "tag");
        let v: Value = serde_json::from_str(&env).unwrap();
        assert_eq!(
            v["properties"]["delivery_info"]["exchange"],
            PIDBOX_EXCHANGE
        );
        assert_eq!(v["properties"]["delivery_tag"], "tag");
        assert_eq!(v["content-type"], "application/json");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v["body"].as_str().unwrap())
            .unwrap();
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, body);
        assert_eq!(back["reply_to"]["routing_key"], "R1");
        assert!(back["destination"].is_null());
    }

    #[test]
    fn replies_from_either_broker() {
        let body = json!({"w1@h": {"ok": "pong"}});
        let b64 = base64::engine::general_purpose::STANDARD.encode(body.to_string());
        let env = json!({"body": b64, "headers": {"ticket": "T", "clock": 4}}).to_string();
        let (t, node, r) = parse_reply(&env, None).unwrap();
        assert_eq!((t.as_str(), node.as_str()), ("T", "w1@h"));
        assert_eq!(r["ok"], "pong");
        let (t, node, _) = parse_reply(&body.to_string(), Some("T2")).unwrap();
        assert_eq!((t.as_str(), node.as_str()), ("T2", "w1@h"));
        assert!(parse_reply("garbage", None).is_none());
        assert!(
            parse_reply(&body.to_string(), None).is_none(),
            "no ticket: not ours"
        );
    }
}
