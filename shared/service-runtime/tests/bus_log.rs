//! What lapin really logs while the broker refuses the service's credentials, and what of it the
//! services' default log filter lets through: nothing of lapin, one warning of the bus.
//!
//! One test only: lapin logs from its own I/O threads, which only a process-wide subscriber hears.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId, Timestamp};
use service_runtime::ServiceBus;
use service_runtime::config::log_filter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer};
use uuid::Uuid;

/// Log output collected in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
        String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
    }
}

fn layer<S>(sink: &Captured, filter: EnvFilter) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let sink = sink.clone();
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .without_time()
        .with_writer(move || sink.clone())
        .with_filter(filter)
}

#[tokio::test]
async fn wrong_credentials_give_one_warning_and_no_library_errors() {
    // What the services' default filter shows, and, beside it, everything lapin says at error level.
    let (shown, lapin) = (Captured::default(), Captured::default());
    let subscriber = tracing_subscriber::registry()
        .with(layer(&shown, log_filter(None)))
        .with(layer(&lapin, EnvFilter::new("lapin=error")));
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");

    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path()).expect("log opens");
    let metadata = EventMetadata {
        actor: Actor { subject: "officer-1".into(), role: "program_officer".into(), organisation: String::new() },
        correlation_id: Uuid::new_v4(),
        causation_id: Uuid::new_v4(),
        occurred_at: Timestamp::now(),
        trace: None,
    };
    let events = (0..2)
        .map(|_| NewEvent {
            event_id: Uuid::new_v4(),
            event_type: "Noted".into(),
            schema_version: 1,
            payload: Vec::new(),
            metadata: metadata.clone(),
        })
        .collect();
    log.append(StreamId::new("note", "1").expect("stream"), ExpectedVersion::NoStream, events).await.expect("append");

    let password = format!("not-the-password-{}", Uuid::new_v4().simple());
    let uri = format!("amqp://guest:{password}@127.0.0.1:5672/%2f");
    let bus = ServiceBus::publish(Some(event_bus::BusConfig::new(uri.clone())), "applications", &log)
        .expect("the service starts");
    // Several attempts, each refused: lapin reports every one at error level.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while lapin.lines().iter().filter(|l| l.contains("ACCESS_REFUSED") && l.contains("Connection error")).count() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "lapin reported no refusals:\n{}", lapin.lines().join("\n"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bus.stop().await;

    let lapin_lines = lapin.lines();
    let targets = ["lapin::channels", "lapin::io_loop"];
    assert!(
        targets.iter().all(|t| lapin_lines.iter().any(|l| l.contains(t))),
        "lapin's targets:\n{}",
        lapin_lines.join("\n")
    );
    let lines = shown.lines();
    let text = lines.join("\n");
    assert!(!lines.iter().any(|l| l.contains(" lapin::")), "nothing of lapin by default:\n{text}");
    assert!(!lines.iter().any(|l| l.trim_start().starts_with("ERROR")), "nothing given up or lost:\n{text}");
    let warnings: Vec<&String> = lines.iter().filter(|l| l.trim_start().starts_with("WARN")).collect();
    assert_eq!(warnings.len(), 1, "one warning:\n{text}");
    assert!(warnings[0].contains("relay cannot publish to the message bus; 2 events wait to be published"), "{text}");
    assert!(warnings[0].contains("broker=127.0.0.1:5672") && warnings[0].contains("vhost=/"), "{text}");
    assert!(warnings[0].contains("ACCESS_REFUSED"), "the reason:\n{text}");
    assert!(!text.contains(&password), "never the password:\n{text}");
}
