//! The service's events reach a queue on the real RabbitMQ (127.0.0.1:5672, guest/guest) through the
//! event bus relay, in a vhost of the test's own.

mod common;

use std::time::Duration;

use contracts::applications::v1 as pb;
use domain_kernel::Role;
use event_bus::lapin::options::{BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use event_bus::lapin::types::{FieldTable, ShortString};
use event_bus::lapin::{Connection, ConnectionProperties, ExchangeKind};
use test_support::{Vhost, authed, request_id, token};

#[tokio::test]
async fn events_reach_a_queue_on_rabbitmq_with_the_event_id_as_message_id() {
    let vhost = Vhost::create();
    let connection = Connection::connect(&vhost.uri(), ConnectionProperties::default()).await.expect("connect");
    let channel = connection.create_channel().await.unwrap();
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel
        .exchange_declare(ShortString::from("grants.events"), ExchangeKind::Topic, durable, FieldTable::default())
        .await
        .unwrap();
    let queue = ShortString::from("observer");
    channel.queue_declare(queue.clone(), QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    let binding = ShortString::from("applications.#");
    let exchange = ShortString::from("grants.events");
    channel
        .queue_bind(queue.clone(), exchange, binding, QueueBindOptions::default(), FieldTable::default())
        .await
        .unwrap();

    let server = common::start_with(tempfile::tempdir().unwrap(), Some(vhost.uri())).await;
    let mut client = server.client(pb::ApplicationsServiceClient::new).await;
    let organisation_id = uuid::Uuid::new_v4().to_string();
    let register = pb::RegisterOrganisationRequest {
        request_id: request_id(),
        organisation_id: organisation_id.clone(),
        legal_name: "Network".into(),
        country: "TH".into(),
        organisation_type: pb::OrganisationType::Network as i32,
        registration_number: "TH-1".into(),
        contact_person: Some(pb::ContactPerson {
            full_name: "C".into(),
            email: "c@example.org".into(),
            phone: String::new(),
        }),
    };
    client.register_organisation(authed(register, &token(Role::Partner, "p", Some(&organisation_id)))).await.unwrap();

    let mut got = None;
    for _ in 0..100 {
        got = channel.basic_get(queue.clone(), BasicGetOptions { no_ack: true }).await.unwrap();
        if got.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let message = got.expect("the event reached the queue");
    assert_eq!(message.delivery.routing_key.as_str(), "applications.OrganisationRegistered");
    let dir = server.stop().await;
    let log = event_log::EventLog::open(applications::service::log_dir(&dir.path().join("applications"))).unwrap();
    let event = log.event(0).unwrap().unwrap();
    let message_id = message.delivery.properties.message_id().as_ref().map(|m| m.to_string());
    assert_eq!(message_id, Some(event.event_id.to_string()));
    let _ = connection.close(200, ShortString::from("done")).await;
}
