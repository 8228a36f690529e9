//! Remote-control (pidbox) messages as data (docs/protocol.md §5): the broadcast request, its
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
    let v: Value = serde_json::from_str(&python_json(payload)).ok()?;
    let (body, ticket) = match v.get("body").and_then(Value::as_str) {
        Some(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            let text = String::from_utf8_lossy(&bytes);
            let body: Value = serde_json::from_str(&python_json(&text)).ok()?;
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

/// Python's `json` writes `Infinity`, `-Infinity` and `NaN` (`inspect conf` answers
/// `result_backend_max_retries: Infinity`): outside strings they become `null`, so one such
/// value does not lose the whole reply.
pub fn python_json(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("Infinity") && !text.contains("NaN") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        match token {
            Some(t) => {
                out.push_str("null");
                rest = &rest[t.len()..];
            }
            None => {
                if c == '"' {
                    in_string = true;
                }
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Signal names a worker accepts for `revoke --terminate` (upper case, docs/protocol.md trap 18).
pub const SIGNALS: [&str; 8] = ["TERM", "KILL", "INT", "HUP", "QUIT", "USR1", "USR2", "ABRT"];

/// `SIGTERM` from `term`, `TERM`, `SIGTERM`; `None` for a name a worker would not accept.
pub fn signal_name(s: &str) -> Option<String> {
    let up = s.trim().to_ascii_uppercase();
    let bare = up.strip_prefix("SIG").unwrap_or(&up);
    SIGNALS.contains(&bare).then(|| format!("SIG{bare}"))
}

/// A revoke broadcast for these task ids (replies wanted when `reply` is given).
pub fn revoke_request(
    ids: &[String],
    terminate: bool,
    signal: &str,
    reply: Option<(&str, &str)>,
) -> Value {
    let mut body = json!({
        "method": "revoke",
        "arguments": {"task_id": ids, "terminate": terminate, "signal": signal},
        "destination": null,
        "pattern": null,
        "matcher": null,
    });
    if let Some((ticket, reply_key)) = reply {
        body["ticket"] = json!(ticket);
        body["reply_to"] = json!({"exchange": REPLY_EXCHANGE, "routing_key": reply_key});
    }
    body
}

/// A task message of protocol 2 (docs/protocol.md §6.1), as data.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMessage {
    pub id: String,
    pub task: String,
    /// Real JSON: a list and an object.
    pub args: Value,
    pub kwargs: Value,
    pub queue: String,
    pub root_id: String,
    pub parent_id: Option<String>,
    pub origin: String,
}

impl TaskMessage {
    pub fn headers(&self) -> Value {
        json!({
            "lang": "py",
            "task": self.task,
            "id": self.id,
            "shadow": null,
            "eta": null,
            "expires": null,
            "group": null,
            "group_index": null,
            "retries": 0,
            "timelimit": [null, null],
            "root_id": self.root_id,
            "parent_id": self.parent_id,
            "argsrepr": python_repr(&self.args, true),
            "kwargsrepr": python_repr(&self.kwargs, false),
            "origin": self.origin,
            "ignore_result": false,
            "replaced_task_nesting": 0,
            "stamped_headers": null,
            "stamps": {},
        })
    }

    /// `[args, kwargs, embed]`.
    pub fn body(&self) -> Value {
        json!([
            self.args,
            self.kwargs,
            {"callbacks": null, "errbacks": null, "chain": null, "chord": null}
        ])
    }

    /// The kombu envelope LPUSHed to the queue's list on Redis.
    pub fn redis_envelope(&self, delivery_tag: &str) -> Value {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.body().to_string());
        json!({
            "body": b64,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": self.headers(),
            "properties": {
                "correlation_id": self.id,
                "reply_to": "",
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": self.queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": delivery_tag,
            },
        })
    }
}

/// Checks a task message the way a worker would read it, before anything is published:
/// a malformed one crashes the worker that takes it and comes back to crash the next
/// (docs/protocol.md §6.2, trap 13).
pub fn validate(headers: &Value, body: &Value) -> Result<(), String> {
    let text = |k: &str| {
        headers
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    text("task").ok_or("headers.task (the task name) is missing")?;
    text("id").ok_or("headers.id (the task id) is missing")?;
    let parts = body.as_array().ok_or("the body is not a list")?;
    if parts.len() != 3 {
        return Err(format!(
            "the body has {} parts; a worker unpacks exactly three (args, kwargs, embed)",
            parts.len()
        ));
    }
    if !parts[0].is_array() {
        return Err("args (body[0]) is not a list".into());
    }
    if !parts[1].is_object() {
        return Err("kwargs (body[1]) is not an object".into());
    }
    if !(parts[2].is_object() || parts[2].is_null()) {
        return Err("embed (body[2]) is not an object".into());
    }
    Ok(())
}

/// A Redis envelope: the message plus what kombu needs to deliver it.
pub fn validate_redis_envelope(env: &Value) -> Result<(), String> {
    if env.get("content-type").and_then(Value::as_str) != Some("application/json") {
        return Err("content-type is not application/json".into());
    }
    let props = env.get("properties").ok_or("properties are missing")?;
    props
        .get("delivery_tag")
        .and_then(Value::as_str)
        .ok_or("properties.delivery_tag is missing")?;
    props
        .pointer("/delivery_info/routing_key")
        .and_then(Value::as_str)
        .ok_or("properties.delivery_info is missing")?;
    let b64 = env
        .get("body")
        .and_then(Value::as_str)
        .ok_or("body is missing")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("body is not base64: {e}"))?;
    let body: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("body is not JSON: {e}"))?;
    validate(env.get("headers").unwrap_or(&Value::Null), &body)
}

/// Python's repr of a JSON value, for `argsrepr`/`kwargsrepr` (a list shows as a tuple).
pub fn python_repr(v: &Value, as_tuple: bool) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(|i| python_repr(i, false)).collect();
            if as_tuple {
                if inner.len() == 1 {
                    format!("({},)", inner[0])
                } else {
                    format!("({})", inner.join(", "))
                }
            } else {
                format!("[{}]", inner.join(", "))
            }
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("'{k}': {}", python_repr(v, false)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

#[cfg(test)]
mod message_tests {

    #[test]
    fn python_json_infinities_become_null_outside_strings() {
        let text = r#"{"a": Infinity, "b": -Infinity, "c": NaN, "d": "NaN and Infinity", "e": "x\"Infinity"}"#;
        let v: serde_json::Value = serde_json::from_str(&super::python_json(text)).unwrap();
        assert!(v["a"].is_null() && v["b"].is_null() && v["c"].is_null());
        assert_eq!(v["d"], "NaN and Infinity");
        assert_eq!(v["e"], "x\"Infinity");
        assert!(matches!(
            super::python_json("{}"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    use super::*;
    use proptest::prelude::*;

    fn msg(args: Value, kwargs: Value) -> TaskMessage {
        TaskMessage {
            id: "new".into(),
            task: "shop.charge".into(),
            args,
            kwargs,
            queue: "celery".into(),
            root_id: "root".into(),
            parent_id: Some("old".into()),
            origin: "celtrace@host".into(),
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z' ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,5}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn every_built_message_is_valid(args in prop::collection::vec(json_value(), 0..4),
                                        kwargs in prop::collection::btree_map("[a-z]{1,5}", json_value(), 0..4)) {
            let m = msg(Value::Array(args), Value::Object(kwargs.into_iter().collect()));
            prop_assert!(validate(&m.headers(), &m.body()).is_ok());
            prop_assert!(validate_redis_envelope(&m.redis_envelope("tag")).is_ok());
        }

        #[test]
        fn a_message_missing_a_required_part_is_rejected(which in 0usize..7) {
            let m = msg(json!([2, 3]), json!({}));
            let mut headers = m.headers();
            let mut body = m.body();
            match which {
                0 => { headers.as_object_mut().unwrap().remove("task"); }
                1 => { headers.as_object_mut().unwrap().remove("id"); }
                2 => { body.as_array_mut().unwrap().pop(); }
                3 => { body[0] = json!({}); }
                4 => { body[1] = json!([]); }
                5 => { body = json!({"args": []}); }
                _ => { body[2] = json!(5); }
            }
            prop_assert!(validate(&headers, &body).is_err());
        }
    }

    #[test]
    fn envelopes_without_delivery_parts_are_rejected() {
        let m = msg(json!([1]), json!({}));
        for path in ["delivery_tag", "delivery_info"] {
            let mut env = m.redis_envelope("t");
            env["properties"].as_object_mut().unwrap().remove(path);
            assert!(validate_redis_envelope(&env).is_err(), "{path}");
        }
        let mut env = m.redis_envelope("t");
        env.as_object_mut().unwrap().remove("content-type");
        assert!(validate_redis_envelope(&env).is_err());
    }

    #[test]
    fn reprs_read_like_python() {
        assert_eq!(python_repr(&json!([2, "it's"]), true), "(2, 'it\\'s')");
        assert_eq!(python_repr(&json!([1]), true), "(1,)");
        assert_eq!(
            python_repr(&json!({"a": [true, null]}), false),
            "{'a': [True, None]}"
        );
        assert_eq!(signal_name("kill").as_deref(), Some("SIGKILL"));
        assert_eq!(signal_name("SIGTERM").as_deref(), Some("SIGTERM"));
        assert_eq!(signal_name("SIGFOO"), None);
    }
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
