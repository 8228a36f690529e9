use proptest::prelude::*;

use super::*;

fn scrub(text: &str) -> String {
    Policy::default().text(text).into_owned()
}

#[test]
fn default_keys_match_as_parts_in_any_case_and_spelling() {
    let p = Policy::default();
    for k in [
        "password",
        "DB_PASSWORD",
        "pässword",
        "Passwd",
        "pwd",
        "client_secret",
        "refresh_token",
        "X-Api-Key",
        "apikey",
        "Authorization",
        "auth",
        "x_auth",
        "credentials",
        "private_key",
        "sessionid",
        "cookie",
        "card",
        "creditCard",
        "card_number",
        "cvv",
        "ssn",
    ] {
        assert!(p.is_secret_key(k), "{k}");
    }
    for k in [
        "user",
        "author",
        "discard",
        "cardinality",
        "order_id",
        "n",
        "keys",
    ] {
        assert!(!p.is_secret_key(k), "{k}");
    }
}

#[test]
fn extra_and_safe_keys() {
    let p = Policy::new(&["Tenant-Code".into()], &["token_count".into()]);
    assert!(p.is_secret_key("tenant_code"));
    assert!(p.is_secret_key("my_tenantcode"));
    assert!(!p.is_secret_key("token_count"));
    assert!(!p.is_secret_key("TokenCount"));
    assert!(p.is_secret_key("token"));
    // A safe key still has its shaped secrets masked.
    assert_eq!(
        p.text("{'token_count': 'redis://:pw@h'}"),
        "{'token_count': 'redis://:[Filtered]@h'}"
    );
}

#[test]
fn off_changes_nothing() {
    let p = Policy::off();
    let t = "{'password': 'x', 'u': 'redis://:pw@h', 'c': 4111111111111111}";
    assert!(matches!(p.text(t), Cow::Borrowed(_)));
    assert!(!p.is_secret_key("password"));
}

#[test]
fn the_issue_examples() {
    assert_eq!(
        scrub("({'pässword': 'hunter2'},)"),
        "({'pässword': '[Filtered]'},)"
    );
    assert_eq!(
        scrub("AuthError(<Auth token=tok_live_abc>)"),
        "AuthError(<Auth token=[Filtered]>)"
    );
    assert_eq!(
        scrub(
            "{'card_token': 'tok_live_4eC39HqLyjWDarjtT1zdp7dc', 'card_number': '4111111111111111'}"
        ),
        "{'card_token': '[Filtered]', 'card_number': '[Filtered]'}"
    );
    assert_eq!(
        scrub("ConnectionError('Error connecting to postgresql://app:s3cr3t@db:5432/app')"),
        "ConnectionError('Error connecting to postgresql://app:[Filtered]@db:5432/app')"
    );
    assert_eq!(
        scrub("HTTPError('401 for Authorization: Bearer sk_live_x1')"),
        "HTTPError('401 for Authorization: [Filtered]')"
    );
    assert_eq!(
        scrub("{'note': 'paid with 4242 4242 4242 4242'}"),
        "{'note': 'paid with [Filtered]'}"
    );
}

#[test]
fn tracebacks_line_by_line() {
    let tb = "Traceback (most recent call last):\n  File \"/app/t.py\", line 9, in charge\n    client = Client(api_key='sk_live_4eC39HqLyjWDarjtT1zdp7dc')\nstripe.error.AuthenticationError: Invalid API Key provided: sk_live_4eC39HqLyjWDarjtT1zdp7dc\n";
    let out = scrub(tb);
    assert!(!out.contains("sk_live_4eC39HqLyjWDarjtT1zdp7dc"), "{out}");
    assert!(
        out.contains("File \"/app/t.py\", line 9, in charge"),
        "{out}"
    );
}

#[test]
fn json_values_and_raw_fields() {
    let p = Policy::default();
    let mut v = serde_json::json!({
        "args": [1, {"Password": "x", "n": 2}],
        "dsn": "amqp://u:pw@h//",
        "token": null,
        "nested": {"note": "{'secret': 's'}"}
    });
    assert!(p.json(&mut v));
    assert_eq!(
        v,
        serde_json::json!({
            "args": [1, {"Password": FILTERED, "n": 2}],
            "dsn": "amqp://u:[Filtered]@h//",
            "token": null,
            "nested": {"note": "{'secret': '[Filtered]'}"}
        })
    );
    assert!(!p.json(&mut v), "scrubbing twice changes nothing");
    let raw = RawValue::from_string(r#"{"api_key": "k", "n": 1}"#.into()).unwrap();
    assert_eq!(
        p.raw_field("payload", &raw).unwrap().get(),
        r#"{"api_key":"[Filtered]","n":1}"#
    );
    let raw = RawValue::from_string("42".into()).unwrap();
    assert!(p.raw_field("n", &raw).is_none());
    assert_eq!(p.raw_field("secret", &raw).unwrap().get(), "\"[Filtered]\"");
}

#[test]
fn events_are_scrubbed_in_every_payload_field() {
    let line = r#"{"type": "task-failed", "uuid": "u1", "args": "('redis://:pw@h',)", "kwargs": "{'token': 't'}", "exception": "ValueError('password=hunter2')", "traceback": "x = Auth(secret='s')", "progress_token": "abc"}"#;
    let mut events = Vec::new();
    crate::model::decode::decode_entry(line, &mut Vec::new(), &mut |ev| {
        events.push(ev.clone().into_owned());
    });
    let mut ev = events.remove(0);
    assert!(Policy::default().event(&mut ev));
    assert_eq!(ev.args.as_deref(), Some("('redis://:[Filtered]@h',)"));
    assert_eq!(ev.kwargs.as_deref(), Some("{'token': '[Filtered]'}"));
    assert_eq!(
        ev.exception.as_deref(),
        Some("ValueError('password=[Filtered]')")
    );
    assert_eq!(
        ev.traceback.as_deref(),
        Some("x = Auth(secret='[Filtered]')")
    );
    assert_eq!(ev.extra[0].1.get(), "\"[Filtered]\"");
    assert!(!Policy::default().event(&mut ev), "idempotent");
}

// ---- property: secrets at random depths, random cut points, never shown ----

/// A secret value: distinctive upper-case letters and digits, which nothing else generated
/// contains, so any 6 characters of it in the output are a leak.
fn secret() -> impl Strategy<Value = String> {
    "[A-Z][A-Z0-9]{11,23}"
}

/// A Luhn-valid card number, digits alone or in groups of four.
fn card() -> impl Strategy<Value = String> {
    (proptest::collection::vec(0u8..10, 12..18), any::<bool>()).prop_map(|(mut d, spaced)| {
        d.insert(0, 4);
        let check = (0..10).find(|c| {
            let mut all = d.clone();
            all.push(*c);
            values::luhn(&all)
        });
        d.push(check.unwrap_or(0));
        let s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
        if spaced {
            s.as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            s
        }
    })
}

#[derive(Debug, Clone)]
enum Node {
    Int(u16),
    Word(String),
    List(Vec<Node>),
    Dict(Vec<(String, Node)>),
    /// A value whose secret is in its shape, under a harmless key.
    Shaped(Shape),
    /// A secret key's value: the secret, or a structure holding it.
    Keyed(String, Box<Node>),
    /// `Auth(token='…')` / `<Auth token=…>`, in a repr only.
    Object(String, String, bool),
}

#[derive(Debug, Clone)]
enum Shape {
    Url(String),
    Bearer(String),
    Card(String),
}

const SECRET_KEYS: &[&str] = &[
    "password",
    "Pässword",
    "API-Key",
    "x_auth_token",
    "creditCard",
    "sessionid",
    "client_secret",
    "Authorization",
];
const WORDS: &[&str] = &["user", "order", "items", "count", "name", "region", "note"];

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        (0u16..1000).prop_map(Node::Int),
        proptest::sample::select(WORDS).prop_map(|w| Node::Word(w.to_string())),
        secret().prop_map(|s| Node::Shaped(Shape::Url(s))),
        secret().prop_map(|s| Node::Shaped(Shape::Bearer(s))),
        card().prop_map(|s| Node::Shaped(Shape::Card(s))),
        (proptest::sample::select(SECRET_KEYS), secret())
            .prop_map(|(k, s)| Node::Keyed(k.to_string(), Box::new(Node::Word(s)))),
        (
            proptest::sample::select(&["token", "password"][..]),
            secret(),
            any::<bool>()
        )
            .prop_map(|(k, s, angle)| Node::Object(k.to_string(), s, angle)),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Node::List),
            proptest::collection::vec(
                (
                    proptest::sample::select(WORDS).prop_map(str::to_string),
                    inner.clone()
                ),
                0..5
            )
            .prop_map(Node::Dict),
            (proptest::sample::select(SECRET_KEYS), inner)
                .prop_map(|(k, v)| Node::Keyed(k.to_string(), Box::new(v))),
        ]
    })
}

impl Node {
    /// Python repr (single quotes, tuples for lists at odd depths) or JSON.
    fn render(&self, json: bool, out: &mut String, secrets: &mut Vec<String>) {
        let q = if json { '"' } else { '\'' };
        match self {
            Node::Int(n) => out.push_str(&n.to_string()),
            Node::Word(w) => {
                if w.starts_with(|c: char| c.is_ascii_uppercase()) {
                    secrets.push(w.clone());
                }
                out.push(q);
                out.push_str(w);
                out.push(q);
            }
            Node::List(items) => {
                out.push('[');
                for (i, n) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    n.render(json, out, secrets);
                }
                out.push(']');
            }
            Node::Dict(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&format!("{q}{k}{q}: "));
                    v.render(json, out, secrets);
                }
                out.push('}');
            }
            Node::Keyed(k, v) => {
                out.push_str(&format!("{{{q}{k}{q}: "));
                v.render(json, out, secrets);
                out.push('}');
            }
            Node::Shaped(shape) => {
                let (text, secret) = match shape {
                    Shape::Url(s) => (format!("redis://app:{s}@cache:6379/0"), s.clone()),
                    Shape::Bearer(s) => (format!("Bearer {s}"), s.clone()),
                    Shape::Card(s) => (s.clone(), s.clone()),
                };
                secrets.push(secret);
                out.push(q);
                out.push_str(&text);
                out.push(q);
            }
            Node::Object(k, s, angle) => {
                secrets.push(s.clone());
                if json {
                    out.push_str(&format!("{q}<Auth {k}={s}>{q}"));
                } else if *angle {
                    out.push_str(&format!("<Auth {k}={s}>"));
                } else {
                    out.push_str(&format!("Auth({k}='{s}')"));
                }
            }
        }
    }
}

/// The windows of a secret that must not show: any 6 characters of a word secret, any part of
/// a card number holding 6 digits.
fn leaked<'a>(output: &str, secrets: &'a [String]) -> Option<&'a str> {
    secrets.iter().map(String::as_str).find(|s| {
        let chars: Vec<char> = s.chars().collect();
        (0..chars.len()).any(|from| {
            let mut digits = 0;
            let mut window = String::new();
            for &c in &chars[from..] {
                window.push(c);
                digits += usize::from(c.is_ascii_digit());
                let enough = if s.starts_with(|c: char| c.is_ascii_digit()) {
                    digits >= 6
                } else {
                    window.chars().count() >= 6
                };
                if enough {
                    return output.contains(&window);
                }
            }
            false
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn no_secret_survives_scrubbing(
        tree in node(),
        json in any::<bool>(),
        cut in proptest::option::of(0.0f64..1.0),
    ) {
        let mut text = String::new();
        let mut secrets = Vec::new();
        tree.render(json, &mut text, &mut secrets);
        if let Some(at) = cut {
            let mut i = (text.len() as f64 * at) as usize;
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            text.truncate(i);
            text.push_str("...");
        }
        let out = scrub(&text);
        prop_assert!(leaked(&out, &secrets).is_none(), "leaked from {text}\n  as {out}");
        prop_assert_eq!(scrub(&out), out.clone(), "not idempotent");
        if json && cut.is_none() {
            let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
            Policy::default().json(&mut value);
            let out = value.to_string();
            prop_assert!(leaked(&out, &secrets).is_none(), "leaked from JSON {text}\n  as {out}");
            prop_assert!(serde_json::from_str::<serde_json::Value>(&scrub(&text)).is_ok(),
                "scrubbed JSON text is still JSON: {}", scrub(&text));
        }
    }
}
