//! Reading the stream queue over RabbitMQ's own stream protocol (plugin `rabbitmq_stream`,
//! port 5552) with the official client: chunks of messages in one frame, several times faster
//! than AMQP's delivery per message. The reader tries it first and falls back to AMQP when
//! the plugin does not answer; which one read is said in the read's diagnostics.

use std::sync::mpsc::SyncSender;
use std::time::Duration;

use futures_lite::StreamExt;
use rabbitmq_stream_client::Environment;
use rabbitmq_stream_client::types::OffsetSpecification;

use super::reader::{body_time, push_line};
use super::{Amqp, AmqpError, BLOCK, Start, client_url};

/// The plugin's port when nothing else is said.
pub const DEFAULT_PORT: u16 = 5552;
/// `CELTRACE_STREAM_PORT`: another port for the stream protocol, or `0` for AMQP only.
pub const PORT_ENV: &str = "CELTRACE_STREAM_PORT";
/// How long connecting and subscribing may take before AMQP is used instead.
const OPEN_TIMEOUT: Duration = Duration::from_secs(2);

/// How a stream queue was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// RabbitMQ's stream protocol, on this port.
    Stream(u16),
    /// AMQP 0.9.1, and why not the stream protocol.
    Amqp(String),
}

impl Transport {
    /// What diagnostics say about it.
    pub fn describe(&self) -> String {
        match self {
            Self::Stream(port) => format!("stream protocol, port {port}"),
            Self::Amqp(why) => format!("AMQP; the stream protocol {why}"),
        }
    }
}

/// The port to try, or why the stream protocol is not tried at all.
pub fn port_to_try(setting: Option<&str>, tls: bool) -> Result<u16, String> {
    if tls {
        // The client release this build uses has its own TLS stack (certificate paths
        // only); amqps reads keep to AMQP and its verified TLS.
        return Err("is not used over TLS (amqps)".to_string());
    }
    match setting.map(str::trim) {
        None | Some("") => Ok(DEFAULT_PORT),
        Some("0") => Err(format!("is turned off ({PORT_ENV}=0)")),
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("port `{p}` in {PORT_ENV} is not a port number")),
    }
}

/// Where and as whom to connect.
struct Endpoint {
    host: String,
    port: u16,
    user: String,
    password: String,
    vhost: String,
}

impl Amqp {
    fn stream_endpoint(&self) -> Result<Endpoint, String> {
        let uri: lapin::uri::AMQPUri = client_url(&self.url)
            .parse()
            .map_err(|_| "cannot be reached: the URL does not parse".to_string())?;
        let tls = uri.scheme == lapin::uri::AMQPScheme::AMQPS;
        let setting = std::env::var(PORT_ENV).ok();
        let port = port_to_try(setting.as_deref(), tls)?;
        Ok(Endpoint {
            host: uri.authority.host,
            port,
            user: uri.authority.userinfo.username,
            password: uri.authority.userinfo.password,
            vhost: uri.vhost,
        })
    }

    /// Reads `queue` from `start` to offset `last` (or the first event after `end`) over the
    /// stream protocol, sending blocks of lines. `chosen` hears the transport before the
    /// first block; `Err` without a word on `chosen` means "use AMQP", with the reason.
    pub(super) fn consume_stream_protocol(
        &self,
        queue: &str,
        start: Start,
        last: i64,
        end: Option<f64>,
        tx: &SyncSender<Result<Vec<u8>, AmqpError>>,
        chosen: &dyn Fn(Transport),
    ) -> Result<(), String> {
        let at = self.stream_endpoint()?;
        let rt = super::runtime().map_err(|e| format!("could not start: {e}"))?;
        rt.block_on(async {
            let open = async {
                let env = Environment::builder()
                    .host(&at.host)
                    .port(at.port)
                    .username(&at.user)
                    .password(&at.password)
                    .virtual_host(&at.vhost)
                    .client_provided_name("celtrace")
                    .build()
                    .await
                    .map_err(|e| format!("is not available on port {}: {e}", at.port))?;
                let offset = match start {
                    Start::First => OffsetSpecification::First,
                    Start::Offset(o) => OffsetSpecification::Offset(o.max(0) as u64),
                    // Milliseconds here (AMQP's `x-stream-offset` takes seconds).
                    Start::Time(t) => OffsetSpecification::Timestamp((t.max(0.0) * 1000.0) as i64),
                };
                env.consumer()
                    .offset(offset)
                    .client_provided_name("celtrace-read")
                    .build(queue)
                    .await
                    .map_err(|e| format!("could not subscribe to `{queue}`: {e}"))
            };
            let mut consumer = match tokio::time::timeout(OPEN_TIMEOUT, open).await {
                Ok(Ok(c)) => c,
                Ok(Err(why)) => return Err(redact_reason(&why, &at.password)),
                Err(_) => {
                    return Err(format!(
                        "did not answer on port {} within {}s",
                        at.port,
                        OPEN_TIMEOUT.as_secs()
                    ));
                }
            };
            chosen(Transport::Stream(at.port));
            let mut block = Vec::with_capacity(BLOCK * 600);
            let mut lines = 0;
            while let Some(delivery) = consumer.next().await {
                let delivery = match delivery {
                    Ok(d) => d,
                    Err(e) => {
                        let _ = tx.send(Err(AmqpError::Closed {
                            url: self.label.clone(),
                            reason: redact_reason(&e.to_string(), &at.password),
                        }));
                        break;
                    }
                };
                let offset = i64::try_from(delivery.offset()).unwrap_or(i64::MAX);
                if offset > last {
                    break;
                }
                if let Some(body) = delivery.message().data() {
                    if let (Some(end), Some(t)) = (end, body_time(body))
                        && t > end
                    {
                        break;
                    }
                    push_line(&mut block, body);
                    lines += 1;
                }
                if lines >= BLOCK {
                    if tx.send(Ok(std::mem::take(&mut block))).is_err() {
                        break;
                    }
                    lines = 0;
                }
                if offset >= last {
                    break;
                }
            }
            if !block.is_empty() {
                let _ = tx.send(Ok(block));
            }
            let _ = consumer.handle().close().await;
            Ok(())
        })
    }
}

/// A client error's text, never with the password in it.
fn redact_reason(reason: &str, password: &str) -> String {
    let reason = super::super::url::redact(reason);
    if password.is_empty() {
        reason
    } else {
        reason.replace(password, "****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_comes_from_the_setting_and_tls_keeps_to_amqp() {
        assert_eq!(port_to_try(None, false), Ok(DEFAULT_PORT));
        assert_eq!(port_to_try(Some(" 15552 "), false), Ok(15552));
        assert!(port_to_try(Some("0"), false).unwrap_err().contains("off"));
        assert!(port_to_try(Some("x"), false).unwrap_err().contains("`x`"));
        assert!(port_to_try(None, true).unwrap_err().contains("TLS"));
        assert_eq!(
            Transport::Amqp("is turned off".into()).describe(),
            "AMQP; the stream protocol is turned off"
        );
        assert_eq!(
            Transport::Stream(5552).describe(),
            "stream protocol, port 5552"
        );
    }

    #[test]
    fn reasons_never_carry_the_password() {
        assert_eq!(
            redact_reason("auth failed for s3cret at amqp://u:s3cret@h", "s3cret"),
            "auth failed for **** at amqp://u:****@h"
        );
    }
}
