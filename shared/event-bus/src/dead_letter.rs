//! Listing, inspecting and replaying a consumer's dead letters. Reading never removes a message: every
//! dead letter fetched is handed back to the queue, except the one replayed, which is removed only after
//! the broker has confirmed its copy in the consumer queue.

use event_log::{DecodeError, RecordedEvent, Timestamp, decode_envelope};
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};

use crate::broker::{self, timed};
use crate::config::ConsumerConfig;
use crate::error::BusError;
use crate::message::{event_type, header, number_header, source_service, text_header, with_headers};

/// Most dead letters read in one listing; the rest stay in the queue unseen.
pub const MAX_LISTED: usize = 10_000;

/// One message in a consumer's dead-letter queue.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// The message id (the event id for events); `#<n>` (its place in the queue) when it has none.
    pub id: String,
    pub source: Option<String>,
    pub position: Option<u64>,
    pub event_type: Option<String>,
    pub routing_key: Option<String>,
    /// Why it was dead-lettered: the consumer's reason, or the broker's (`delivery_limit`, ...).
    pub reason: String,
    pub dead_lettered_at: Option<Timestamp>,
    pub body: Vec<u8>,
    pub properties: BasicProperties,
}

impl DeadLetter {
    fn from_message(index: usize, body: Vec<u8>, properties: BasicProperties, routing_key: &str) -> DeadLetter {
        let id = properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_owned())
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| format!("#{index}"));
        let reason = text_header(&properties, header::DEAD_LETTER_REASON)
            .or_else(|| text_header(&properties, header::BROKER_DEATH_REASON).map(|r| format!("broker: {r}")))
            .unwrap_or_else(|| "unknown".to_owned());
        DeadLetter {
            id,
            source: source_service(&properties),
            position: number_header(&properties, header::GLOBAL_POSITION),
            event_type: event_type(&properties),
            routing_key: text_header(&properties, header::ORIGINAL_ROUTING_KEY)
                .or_else(|| Some(routing_key.to_owned()).filter(|k| !k.is_empty())),
            reason,
            dead_lettered_at: number_header(&properties, header::DEAD_LETTERED_AT)
                .and_then(|micros| i64::try_from(micros).ok())
                .map(Timestamp::from_micros),
            body,
            properties,
        }
    }

    /// The event the dead letter carries, if its body decodes.
    pub fn event(&self) -> Result<RecordedEvent, DecodeError> {
        decode_envelope(&self.body)
    }
}

/// The dead letters of one consumer.
#[derive(Clone, Debug)]
pub struct DeadLetters {
    config: ConsumerConfig,
}

impl DeadLetters {
    pub fn new(config: ConsumerConfig) -> DeadLetters {
        DeadLetters { config }
    }

    /// Every dead letter (up to [`MAX_LISTED`]), oldest first.
    pub async fn list(&self) -> Result<Vec<DeadLetter>, BusError> {
        self.with_fetched(None).await
    }

    /// The dead letter with this id.
    pub async fn show(&self, id: &str) -> Result<DeadLetter, BusError> {
        let letters = self.list().await?;
        letters.into_iter().find(|l| l.id == id).ok_or_else(|| BusError::DeadLetterNotFound(id.to_owned()))
    }

    /// Sends the dead letter with this id back to the consumer queue, marked as a replay so that the
    /// consumer applies it once even though its position was skipped, then removes it from the dead-letter
    /// queue. Returns what was replayed.
    pub async fn replay(&self, id: &str) -> Result<DeadLetter, BusError> {
        let letters = self.with_fetched(Some(id)).await?;
        letters.into_iter().find(|l| l.id == id).ok_or_else(|| BusError::DeadLetterNotFound(id.to_owned()))
    }

    /// Fetches every dead letter, replays the one with id `replay` if asked, and hands the rest back.
    async fn with_fetched(&self, replay: Option<&str>) -> Result<Vec<DeadLetter>, BusError> {
        let bus = &self.config.bus;
        let limit = bus.operation_timeout;
        let connection = broker::connect_any(bus, &format!("{}-dead-letters", self.config.name)).await?;
        let result = async {
            let channel = timed("channel.open", limit, connection.connection().create_channel()).await?;
            timed("confirm.select", limit, channel.confirm_select(ConfirmSelectOptions::default())).await?;
            let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
            let queue = ShortString::from(self.config.dead_letter_queue.as_str());
            timed("queue.declare", limit, channel.queue_declare(queue.clone(), passive, FieldTable::default())).await?;
            let mut letters = Vec::new();
            let mut ackers = Vec::new();
            while letters.len() < MAX_LISTED {
                let got =
                    timed("basic.get", limit, channel.basic_get(queue.clone(), BasicGetOptions { no_ack: false }))
                        .await?;
                let Some(message) = got else { break };
                let delivery = message.delivery;
                let index = letters.len();
                letters.push(DeadLetter::from_message(
                    index,
                    delivery.data,
                    delivery.properties,
                    delivery.routing_key.as_str(),
                ));
                ackers.push(delivery.acker);
            }
            if let Some(id) = replay {
                let index = letters.iter().position(|l| l.id == id);
                let Some(index) = index else { return Err(BusError::DeadLetterNotFound(id.to_owned())) };
                self.send_back(&channel, &letters[index]).await?;
                timed("basic.ack", limit, ackers[index].ack(BasicAckOptions::default())).await?;
            }
            if let Some(last) = ackers.iter().rev().find(|acker| acker.usable()) {
                let requeue = BasicNackOptions { multiple: true, requeue: true };
                timed("basic.nack", limit, last.nack(requeue)).await?;
            }
            Ok(letters)
        }
        .await;
        connection.close(bus).await;
        result
    }

    async fn send_back(&self, channel: &Channel, letter: &DeadLetter) -> Result<(), BusError> {
        let bus = &self.config.bus;
        let queue = &self.config.queue;
        let properties = with_headers(&letter.properties, vec![(header::REPLAYED, AMQPValue::Boolean(true))], &[]);
        // The default exchange routes straight to the consumer queue, whatever the bindings.
        let publish = channel.basic_publish(
            ShortString::from(""),
            ShortString::from(queue.as_str()),
            BasicPublishOptions { mandatory: true, immediate: false },
            &letter.body,
            properties,
        );
        let confirm = timed("basic.publish", bus.operation_timeout, publish).await?;
        match timed("confirm", bus.confirm_timeout, confirm).await? {
            Confirmation::Ack(None) => Ok(()),
            other => Err(BusError::Refused(format!("replay to {queue} not confirmed: {other:?}"))),
        }
    }
}
