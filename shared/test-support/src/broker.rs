//! The real broker for tests (RabbitMQ on 127.0.0.1:5672, guest/guest): a vhost of each test's own, and
//! publishing recorded events again as a relay would.

use std::process::Command;

use event_bus::lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use event_bus::lapin::types::ShortString;
use event_bus::lapin::{Channel, Confirmation, Connection, ConnectionProperties, PublisherConfirm};
use event_log::RecordedEvent;

/// A vhost of its own, deleted when dropped (also when the test fails), so that tests running at the same
/// time never see each other's exchanges, queues or messages.
#[derive(Debug)]
pub struct Vhost(pub String);

fn rabbitmqctl(args: &[&str]) {
    let output = Command::new("rabbitmqctl").args(args).output().expect("rabbitmqctl runs");
    assert!(output.status.success(), "rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

impl Vhost {
    /// Adds a vhost with a fresh name and gives `guest` every permission on it.
    pub fn create() -> Vhost {
        let name = format!("grants-test-{}", uuid::Uuid::new_v4().simple());
        rabbitmqctl(&["add_vhost", &name]);
        // Owned before the permissions are set, so that a failure there still deletes it.
        let vhost = Vhost(name);
        rabbitmqctl(&["set_permissions", "-p", &vhost.0, "guest", ".*", ".*", ".*"]);
        vhost
    }

    /// The AMQP URI of this vhost.
    pub fn uri(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.0)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        // Best effort: a panic here would hide the test's own failure.
        let _ = Command::new("rabbitmqctl").args(["delete_vhost", &self.0]).output();
    }
}

/// What the broker does with a message that no queue takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unrouted {
    /// Returned to the publisher (`mandatory`): its confirmation carries the returned message.
    Returned,
    /// Dropped: its confirmation is a plain ack.
    Dropped,
}

/// A connection with a channel in confirm mode, publishing to the events exchange as the relay does.
#[derive(Debug)]
pub struct Publisher {
    connection: Connection,
    channel: Channel,
}

impl Publisher {
    /// Connects to `uri` and puts a channel in confirm mode.
    pub async fn connect(uri: &str) -> Publisher {
        let connection = Connection::connect(uri, ConnectionProperties::default()).await.unwrap();
        let channel = connection.create_channel().await.unwrap();
        channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
        Publisher { connection, channel }
    }

    /// Publishes `event` of `source` with the relay's routing key, body and properties; the returned
    /// confirm resolves once the broker has taken (or returned) it.
    pub async fn publish(
        &self,
        source: &str,
        event: &RecordedEvent,
        unrouted: Unrouted,
    ) -> event_bus::lapin::Result<PublisherConfirm> {
        self.channel
            .basic_publish(
                ShortString::from("grants.events"),
                ShortString::from(event_bus::message::routing_key(source, &event.event_type)),
                BasicPublishOptions { mandatory: unrouted == Unrouted::Returned, immediate: false },
                &event_log::encode_envelope(event),
                event_bus::message::event_properties(source, event),
            )
            .await
    }

    /// Closes the connection; errors are ignored, the test is over with it.
    pub async fn close(self) {
        let _ = self.connection.close(200, ShortString::from("done")).await;
    }
}

/// Publishes `events` of `source` again, as a relay would after losing its confirms, and returns the
/// broker's confirmations. Each confirm is awaited before the next event is published, so that all of
/// them are queued, in order, before anything published afterwards.
pub async fn publish_again(uri: &str, source: &str, events: &[RecordedEvent], unrouted: Unrouted) -> Vec<Confirmation> {
    let publisher = Publisher::connect(uri).await;
    let mut confirmations = Vec::with_capacity(events.len());
    for event in events {
        let confirm = publisher.publish(source, event, unrouted).await.unwrap();
        confirmations.push(confirm.await.unwrap());
    }
    publisher.close().await;
    confirmations
}
