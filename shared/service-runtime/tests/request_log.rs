//! Each request is logged once, as JSON when asked, in the W3C trace its `traceparent` metadata names (a new
//! one without it), with no token. Alone in its binary: tracing's per-callsite caches are shared by every
//! thread of a process, and a test that listens to one thread's logs must not race other tests for them.

mod slow_server;

use std::sync::{Arc, Mutex};

use service_runtime::ServerConfig;
use slow_server::{PATH, Server, TAKES, call, token};
use tonic::Code;

/// Collects what the server logs, for the test that reads it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A current-thread runtime: the server's tasks log where the test's subscriber listens.
#[tokio::test]
async fn each_request_is_logged_once_as_json_in_the_trace_it_brings_and_without_its_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().json().with_writer(move || writer.clone()).finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let server = Server::start(ServerConfig::default()).await;
    let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let token = token();
    assert_eq!(call(&server.address, Some(&token), Some(given)).await, Code::Ok);
    // A malformed traceparent is ignored (a new trace), never refused; no token is refused.
    assert_eq!(call(&server.address, Some(&token), Some("00-not-a-trace")).await, Code::Ok);
    assert_eq!(call(&server.address, None, None).await, Code::Unauthenticated);
    let traces = server.traces.lock().unwrap().clone();
    server.stop().await;
    // A call the server's timeout abandons is logged too, when it is.
    let hurried = Server::start(ServerConfig { request_timeout: TAKES / 5, ..ServerConfig::default() }).await;
    assert_eq!(call(&hurried.address, Some(&token), None).await, Code::Cancelled);
    hurried.stop().await;

    // The handler ran in a span of its own of the trace it was given, and in a new trace without one.
    let [Some(continued), Some(started)] = traces[..] else { panic!("each call ran in a trace: {traces:?}") };
    assert_eq!(continued.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(continued.span_id(), "00f067aa0ba902b7");
    assert_ne!(started.trace_id(), continued.trace_id());

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(!text.contains(&token) && !text.contains("Bearer"), "no token is logged:\n{text}");
    let lines: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let requests: Vec<&serde_json::Value> =
        lines.iter().map(|line| &line["fields"]).filter(|fields| fields["message"] == "request").collect();
    assert_eq!(requests.len(), 4, "one line per request:\n{text}");
    let expected = [
        (continued.trace_id(), Some("officer-1"), "OK", 0),
        (started.trace_id(), Some("officer-1"), "OK", 0),
        (String::new(), None, "UNAUTHENTICATED", 16),
        (String::new(), Some("officer-1"), "CANCELLED", 1),
    ];
    for (fields, (trace_id, actor, outcome, code)) in requests.iter().zip(expected) {
        assert_eq!(fields["service"], "test", "{fields}");
        assert_eq!(fields["rpc"], PATH.trim_start_matches('/'), "{fields}");
        assert_eq!(fields["actor"].as_str(), actor, "{fields}");
        assert_eq!((fields["outcome"].as_str(), fields["grpc_code"].as_i64()), (Some(outcome), Some(code)), "{fields}");
        assert!(fields["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{fields}");
        assert_eq!(fields["trace_id"].as_str().map(str::len), Some(32), "{fields}");
        if !trace_id.is_empty() {
            assert_eq!(fields["trace_id"].as_str(), Some(trace_id.as_str()), "{fields}");
        }
        assert!(fields.get("request_id").is_none(), "no command, no request id: {fields}");
    }
    // The slow calls took their second: the duration is the call's.
    assert!(requests[0]["duration_ms"].as_f64().unwrap() >= TAKES.as_secs_f64() * 1000.0, "{}", requests[0]);
}
