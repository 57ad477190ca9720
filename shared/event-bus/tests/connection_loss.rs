//! Cutting the relay's and the consumer's connections several times while 10,000 events stream through:
//! nothing is lost and no effect is applied twice.

mod support;

use std::time::Duration;

use event_bus::{BusConfig, CancellationToken, Consumer, ConsumerConfig, DeadLetters, Relay, RelayConfig};
use event_log::EventLog;
use support::*;

const SOURCE: &str = "applications";
const EVENTS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_lose_nothing_and_apply_nothing_twice() {
    let vhost = Vhost::create("connection-loss");
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path().join("log")).expect("log opens");
    let relay_proxy = TcpProxy::start(broker_address()).await;
    let consumer_proxy = TcpProxy::start(broker_address()).await;
    let (db, state, handler) = recording_handler(&dir.path().join("consumer"));

    let mut consumer_config =
        ConsumerConfig::new(BusConfig::new(vhost.uri(consumer_proxy.address)), "projector", &[SOURCE]);
    consumer_config.prefetch = 256;
    let consumer = Consumer::new(consumer_config.clone(), handler, log.clone()).expect("consumer");
    let progress = consumer.progress();
    let relay = Relay::new(log.clone(), RelayConfig::new(BusConfig::new(vhost.uri(relay_proxy.address)), SOURCE))
        .expect("relay");
    let monitor = relay.monitor();
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    let relaying = tokio::spawn(relay.run(shutdown.clone()));

    let producing = {
        let log = log.clone();
        tokio::spawn(async move {
            for batch in 0..(EVENTS / 500) {
                append_events(&log, batch * 500, 500, 16, 25).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // Cut while events are in flight: the relay at five points of its progress, the consumer at five
    // points of its own, so that publishes, confirms, deliveries and acks are all interrupted. Each cut
    // waits until the client works on a connection opened after the previous cut: progress can pass
    // several points at once (the consumer catches up from the source log after reconnecting, before it
    // notices a cut), and a second cut then would find no connection to sever.
    let relay_cuts = [1_000u64, 3_000, 5_000, 7_000, 9_000];
    let consumer_cuts = [500u64, 2_500, 4_500, 6_500, 8_500];
    let (mut relay_next, mut consumer_next) = (0, 0);
    let (mut relay_accepted_at_cut, mut consumer_connections_at_cut) = (0, 0);
    wait_until("all cuts to happen", Duration::from_secs(90), || {
        // Read before the connection state: a connection accepted after the last cut and a relay that
        // is connected afterwards mean that the relay works on that new connection.
        let relay_accepted = relay_proxy.accepted();
        if relay_next < relay_cuts.len()
            && monitor.published_up_to() >= relay_cuts[relay_next]
            && relay_accepted > relay_accepted_at_cut
            && monitor.backlog().expect("backlog").connected
        {
            assert!(relay_proxy.cut() > 0, "relay cut {relay_next} severed a connection");
            relay_accepted_at_cut = relay_accepted;
            relay_next += 1;
        }
        let handled = sled_checkpoint(&db, SOURCE).expect("checkpoint").next_position;
        let consumer = progress.borrow().clone();
        if consumer_next < consumer_cuts.len()
            && handled >= consumer_cuts[consumer_next]
            && consumer.connected
            && consumer.connections > consumer_connections_at_cut
        {
            assert!(consumer_proxy.cut() > 0, "consumer cut {consumer_next} severed a connection");
            consumer_connections_at_cut = consumer.connections;
            consumer_next += 1;
        }
        relay_next == relay_cuts.len() && consumer_next == consumer_cuts.len()
    })
    .await;
    producing.await.expect("producer");
    wait_until("the consumer to handle every event", Duration::from_secs(90), || {
        sled_checkpoint(&db, SOURCE).expect("checkpoint").next_position == EVENTS as u64
    })
    .await;
    // After its last cut the consumer may have caught up from the source log without needing the bus
    // again; it still notices the cut and reconnects, and the relay publishes everything.
    wait_until("the relay and the consumer to reconnect after their last cut", Duration::from_secs(90), || {
        let relay_accepted = relay_proxy.accepted();
        let consumer = progress.borrow().clone();
        relay_accepted > relay_accepted_at_cut
            && monitor.backlog().expect("backlog").connected
            && consumer.connected
            && consumer.connections > consumer_connections_at_cut
    })
    .await;
    let mut published = monitor.clone();
    let all_published = tokio::time::timeout(Duration::from_secs(90), published.wait_published(EVENTS as u64));
    assert!(all_published.await.expect("relay publishes everything"));

    shutdown.cancel();
    consuming.await.expect("consumer task").expect("consumer stops cleanly");
    relaying.await.expect("relay task").expect("relay stops cleanly");

    let progress = progress.borrow().clone();
    println!(
        "relay connections: {}, consumer connections: {}, duplicates acked without effect: {}, filled from source: {}",
        relay_proxy.accepted(),
        progress.connections,
        progress.duplicates,
        progress.filled_from_source
    );
    assert!(relay_proxy.accepted() > relay_cuts.len() as u64, "the relay reconnected after each cut");
    assert!(progress.connections > consumer_cuts.len() as u64, "the consumer reconnected after each cut");
    assert_eq!(count_prefix(&state, APPLIED), EVENTS, "every event applied");
    assert_eq!(violations(&state), Vec::<String>::new(), "no event applied twice or out of order");
    assert_eq!(progress.dead_lettered, 0);
    assert!(DeadLetters::new(consumer_config).list().await.expect("dead letters").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_relay_notices_a_lost_connection_and_reconnects() {
    let vhost = Vhost::create("idle-relay");
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path().join("log")).expect("log opens");
    let proxy = TcpProxy::start(broker_address()).await;
    // A consumer straight on the broker, so that the relay's messages have a queue to go to.
    let (_db, _state, handler) = recording_handler(&dir.path().join("consumer"));
    let consumer_config = ConsumerConfig::new(BusConfig::new(vhost.uri(broker_address())), "projector", &[SOURCE]);
    let consumer = Consumer::new(consumer_config, handler, log.clone()).expect("consumer");
    let mut progress = consumer.progress();
    let relay =
        Relay::new(log.clone(), RelayConfig::new(BusConfig::new(vhost.uri(proxy.address)), SOURCE)).expect("relay");
    let mut monitor = relay.monitor();
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    let consumer_ready = tokio::time::timeout(Duration::from_secs(30), progress.wait_for(|p| p.connected)).await;
    assert!(consumer_ready.expect("consumer connects").is_ok());
    let relaying = tokio::spawn(relay.run(shutdown.clone()));
    append_events(&log, 0, 10, 1, 10).await;
    assert!(tokio::time::timeout(Duration::from_secs(30), monitor.wait_published(10)).await.expect("relay publishes"));

    // Nothing to publish: only the connection itself can tell the relay that it is gone.
    assert_eq!(proxy.cut(), 1, "the cut severs the relay's connection");
    let noticed = tokio::time::timeout(Duration::from_secs(30), monitor.wait_connected(false)).await;
    assert!(noticed.expect("the idle relay notices the lost connection"));
    let reconnected = tokio::time::timeout(Duration::from_secs(30), monitor.wait_connected(true)).await;
    assert!(reconnected.expect("the relay reconnects"));
    assert!(proxy.accepted() >= 2);

    append_events(&log, 10, 10, 1, 10).await;
    assert!(tokio::time::timeout(Duration::from_secs(30), monitor.wait_published(20)).await.expect("relay publishes"));
    shutdown.cancel();
    relaying.await.expect("relay task").expect("relay stops cleanly");
    consuming.await.expect("consumer task").expect("consumer stops cleanly");
}
