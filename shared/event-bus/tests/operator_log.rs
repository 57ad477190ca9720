//! What an operator reads at the default log level while the broker cannot be reached and when it can
//! again: one warning each from the relay and the consumer, naming the broker and why, and how much
//! waits; one note each when they recover; nothing at error level; never the password.

mod support;

use std::time::Duration;

use event_bus::BusConfig;
use event_log::EventLog;
use support::*;
const LIMIT: Duration = Duration::from_secs(60);

/// A current-thread runtime, so that the relay's and the consumer's tasks log where the capture listens.
#[tokio::test]
async fn an_unreachable_broker_is_reported_once_and_its_recovery_once() {
    let (captured, _guard) = CapturedLog::start("info");
    let vhost = Vhost::create("operator-log");
    let user = BrokerUser::create(&vhost);
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path().join("log")).expect("log opens");
    append_events(&log, 0, 5, 1, 5).await;
    // The service starts while the broker cannot be reached: every connection is closed at once.
    let proxy = TcpProxy::start(broker_address()).await;
    proxy.refuse(true);
    let streaming = Streaming::start(log, dir.path(), BusConfig::new(user.uri(&vhost, proxy.address)));
    wait_until("several failed attempts of each", LIMIT, || proxy.accepted() >= 8).await;

    proxy.refuse(false);
    // The consumer declares the queue the relay's messages go to: until then they are unroutable.
    let mut monitor = streaming.monitor.clone();
    assert!(tokio::time::timeout(LIMIT, monitor.wait_published(5)).await.expect("relay publishes"));
    streaming.finish(5, LIMIT).await;

    let lines = captured.lines();
    let shown = lines.join("\n");
    println!("{shown}");
    let broker = format!("broker={} vhost={} reason=", proxy.address, vhost.name);
    let relay_warnings = captured.matching("WARN", "relay cannot publish to the message bus");
    assert_eq!(relay_warnings.len(), 1, "one warning from the relay:\n{shown}");
    assert!(relay_warnings[0].contains(&broker), "{shown}");
    assert!(relay_warnings[0].contains("5 events wait to be published"), "{shown}");
    assert!(relay_warnings[0].contains("service=applications"), "{shown}");
    let consumer_warnings = captured.matching("WARN", "consumer cannot consume from the message bus");
    assert_eq!(consumer_warnings.len(), 1, "one warning from the consumer:\n{shown}");
    assert!(consumer_warnings[0].contains(&broker), "{shown}");
    assert!(consumer_warnings[0].contains("events wait in queue projector.inbox"), "{shown}");
    // While the consumer had not declared its queue yet, the relay's messages were refused as unroutable:
    // that belongs to the same outage, not to a second warning.
    assert_eq!(captured.matching("WARN", "").len(), 2, "no other warnings:\n{shown}");

    let relay_recovered = captured.matching("INFO", "relay recovered after");
    assert_eq!(relay_recovered.len(), 1, "{shown}");
    assert!(relay_recovered[0].contains("published 5 events that waited"), "{shown}");
    assert_eq!(captured.matching("INFO", "consumer recovered after").len(), 1, "{shown}");
    // One line per applied event: its source, type, id and outcome.
    let applied = captured.matching("INFO", "consumed event applied");
    assert_eq!(applied.len(), 5, "{shown}");
    assert!(
        applied.iter().all(|line| line.contains("source=\"applications\"") || line.contains("source=applications"))
    );
    assert!(applied.iter().all(|line| line.contains("event_type=ApplicationEdited") && line.contains("outcome=")));
    assert!(captured.matching("ERROR", "").is_empty(), "nothing is given up or lost:\n{shown}");
    assert!(!shown.contains(&user.password), "the password is never logged:\n{shown}");
}
