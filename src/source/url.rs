//! Broker and result-backend URLs: scheme check and password redaction. A password never
//! reaches a terminal, a log line or an error message: everything prints [`BrokerUrl::redacted`].

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    Redis,
    Amqp,
}

#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    raw: String,
    pub kind: BrokerKind,
    pub scheme: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`{0}` has no scheme")]
    NoScheme(String),
    #[error("unsupported scheme `{scheme}` in `{url}`")]
    Scheme { scheme: String, url: String },
}

impl BrokerUrl {
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let raw = raw.trim();
        let Some((scheme, _)) = raw.split_once("://") else {
            return Err(UrlError::NoScheme(redact(raw)));
        };
        let scheme = scheme.to_ascii_lowercase();
        let kind = match scheme.as_str() {
            "redis" | "rediss" | "unix" | "redis+socket" => BrokerKind::Redis,
            "amqp" | "amqps" | "pyamqp" => BrokerKind::Amqp,
            _ => {
                return Err(UrlError::Scheme {
                    scheme,
                    url: redact(raw),
                });
            }
        };
        Ok(Self {
            raw: raw.to_string(),
            kind,
            scheme,
        })
    }

    /// The URL with any password replaced by `****`.
    pub fn redacted(&self) -> String {
        redact(&self.raw)
    }

    /// The URL as given, password included: only for handing to a client library.
    pub fn expose(&self) -> &str {
        &self.raw
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BrokerUrl({})", self.redacted())
    }
}

/// Hides the password of every `scheme://user:password@host` in a text (a configuration
/// file quoted in a diagnostic), keeping every byte offset: each byte of a password becomes
/// `*`, so a diagnostic's span still points at the right place.
pub fn mask_credentials(text: &str) -> String {
    let mut out = text.as_bytes().to_vec();
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let start = from + found + 3;
        let rest = &text[start..];
        let end = rest
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c == '"' || c == '\'' || c.is_whitespace()
            })
            .unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            out[start + colon + 1..start + at].fill(b'*');
        }
        from = start;
    }
    String::from_utf8(out).unwrap_or_else(|_| "****".to_string())
}

/// Hides the password of `scheme://user:password@host` and of `?password=` query values.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(start) = out.find("://").map(|i| i + 3) {
        let rest = &out[start..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let userinfo = &rest[..at];
            if let Some(colon) = userinfo.find(':')
                && colon + 1 < userinfo.len()
            {
                out.replace_range(start + colon + 1..start + at, "****");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=****"),
                _ => pair.to_string(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_and_query_passwords() {
        assert_eq!(
            redact("redis://:s3cret@host:6379/0"),
            "redis://:****@host:6379/0"
        );
        assert_eq!(
            redact("amqp://guest:guest@127.0.0.1:5672/vh"),
            "amqp://guest:****@127.0.0.1:5672/vh"
        );
        assert_eq!(redact("amqp://user:p%40ss@h/"), "amqp://user:****@h/");
        assert_eq!(redact("redis://user@host"), "redis://user@host");
        assert_eq!(
            redact("unix:///tmp/r.sock?db=1&password=x"),
            "unix:///tmp/r.sock?db=1&password=****"
        );
        assert_eq!(
            redact("redis://localhost:6379/0"),
            "redis://localhost:6379/0"
        );
    }

    #[test]
    fn credentials_in_a_text_are_masked_in_place() {
        let text = "[profiles.a]\nbroker = \"redis://:hunter2@h:6379/0\"\nresult_backend = 'amqp://u:pässwörd@x//'\nnote = \"see https://example.com\"\n";
        let masked = mask_credentials(text);
        assert_eq!(masked.len(), text.len());
        assert!(
            !masked.contains("hunter2") && !masked.contains("pässwörd"),
            "{masked}"
        );
        assert!(masked.contains("redis://:*******@h:6379/0"), "{masked}");
        assert!(masked.contains("https://example.com"));
    }

    #[test]
    fn display_and_debug_never_show_the_password() {
        let u = BrokerUrl::parse("rediss://:topsecret@h:6380/1").unwrap();
        assert_eq!(u.kind, BrokerKind::Redis);
        assert!(!format!("{u} {u:?}").contains("topsecret"));
        assert_eq!(u.expose(), "rediss://:topsecret@h:6380/1");
    }

    #[test]
    fn unknown_schemes_are_errors_without_secrets() {
        let e = BrokerUrl::parse("sqs://key:secretvalue@x").unwrap_err();
        assert!(!e.to_string().contains("secretvalue"));
        assert!(matches!(
            BrokerUrl::parse("localhost:6379"),
            Err(UrlError::NoScheme(_))
        ));
        assert_eq!(
            BrokerUrl::parse("AMQPS://h").unwrap().kind,
            BrokerKind::Amqp
        );
    }
}
