//! Remote control over RabbitMQ: pidbox broadcasts with their replies (`inspect`, `revoke`)
//! and publishing task messages (`retry`).

use std::time::Duration;

use futures_lite::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};

use super::{Amqp, AmqpError, json_to_amqp};

impl Amqp {
    /// Publishes pidbox requests to the `celery.pidbox` fanout with replies routed to an own
    /// exclusive queue bound to `reply.celery.pidbox` with `reply_key` (docs/protocol.md §5.3), and
    /// collects `(ticket header, body)` of the replies until `timeout`.
    pub fn broadcast_and_collect(
        &self,
        reply_key: &str,
        bodies: &[serde_json::Value],
        timeout: Duration,
    ) -> Result<Vec<(Option<String>, String)>, AmqpError> {
        use lapin::options::{BasicPublishOptions, ExchangeDeclareOptions};
        self.with_channel(async |_, ch| {
            // The same flags Celery's workers declare them with (a difference would be refused).
            ch.exchange_declare(
                crate::model::control::PIDBOX_EXCHANGE.into(),
                lapin::ExchangeKind::Fanout,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| self.fail(&e))?;
            ch.exchange_declare(
                crate::model::control::REPLY_EXCHANGE.into(),
                lapin::ExchangeKind::Direct,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| self.fail(&e))?;
            let queue = format!("{reply_key}.reply.celery.pidbox");
            let mut args = FieldTable::default();
            args.insert("x-expires".into(), AMQPValue::LongInt(10_000));
            args.insert("x-message-ttl".into(), AMQPValue::LongInt(300_000));
            ch.queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                args,
            )
            .await
            .map_err(|e| self.fail(&e))?;
            ch.queue_bind(
                queue.as_str().into(),
                crate::model::control::REPLY_EXCHANGE.into(),
                reply_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| self.fail(&e))?;
            let mut consumer = ch
                .basic_consume(
                    queue.as_str().into(),
                    "celtrace-inspect".into(),
                    BasicConsumeOptions {
                        no_ack: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|e| self.fail(&e))?;
            let expires = crate::clock::wall_secs() + timeout.as_secs_f64();
            for (i, body) in bodies.iter().enumerate() {
                let mut headers = FieldTable::default();
                headers.insert("clock".into(), AMQPValue::LongLongInt(i as i64 + 1));
                headers.insert("expires".into(), AMQPValue::Double(expires));
                let props = lapin::BasicProperties::default()
                    .with_content_type("application/json".into())
                    .with_content_encoding("utf-8".into())
                    .with_delivery_mode(2)
                    .with_priority(0)
                    .with_headers(headers);
                ch.basic_publish(
                    crate::model::control::PIDBOX_EXCHANGE.into(),
                    "".into(),
                    BasicPublishOptions::default(),
                    body.to_string().as_bytes(),
                    props,
                )
                .await
                .map_err(|e| self.fail(&e))?;
            }
            let deadline = tokio::time::Instant::now() + timeout;
            let mut out = Vec::new();
            while let Ok(Some(Ok(d))) = tokio::time::timeout_at(deadline, consumer.next()).await {
                let ticket =
                    d.properties
                        .headers()
                        .as_ref()
                        .and_then(|h| match h.inner().get("ticket") {
                            Some(AMQPValue::LongString(s)) => Some(s.to_string()),
                            Some(AMQPValue::ShortString(s)) => Some(s.to_string()),
                            _ => None,
                        });
                out.push((ticket, String::from_utf8_lossy(&d.data).into_owned()));
            }
            Ok(out)
        })
    }

    /// Puts a task message on its queue: the default exchange, routing key = queue name.
    pub fn publish_task(&self, msg: &crate::model::control::TaskMessage) -> Result<(), AmqpError> {
        use lapin::options::BasicPublishOptions;
        self.with_channel(async |_, ch| {
            let headers = match json_to_amqp(&msg.headers()) {
                AMQPValue::FieldTable(t) => t,
                _ => FieldTable::default(),
            };
            let props = lapin::BasicProperties::default()
                .with_content_type("application/json".into())
                .with_content_encoding("utf-8".into())
                .with_delivery_mode(2)
                .with_priority(0)
                .with_correlation_id(msg.id.as_str().into())
                .with_reply_to("".into())
                .with_headers(headers);
            let confirm = ch
                .basic_publish(
                    "".into(),
                    msg.queue.as_str().into(),
                    BasicPublishOptions::default(),
                    msg.body().to_string().as_bytes(),
                    props,
                )
                .await
                .map_err(|e| self.fail(&e))?;
            let _ = confirm.await;
            Ok(())
        })
    }
}
