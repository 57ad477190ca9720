//! Random sequences of appends, with every expectation, retries and conflicting duplicates, run against
//! the real log on disk and against a trivial in-memory model; every result and the final contents must agree.

mod sample_events;

use std::collections::HashMap;

use event_log::{AppendError, AppendResult, EventLog, ExpectedVersion, NewEvent, StreamId};
use proptest::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone)]
enum Expectation {
    Any,
    NoStream,
    StreamExists,
    /// Exact(current + offset), with current taken as -1 for a missing stream.
    Exact(i64),
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        stream: u32,
        expectation: Expectation,
        count: usize,
    },
    /// Resend an earlier request unchanged.
    Retry {
        back: usize,
    },
    /// Resend an earlier request's ids with another payload.
    RetryAltered {
        back: usize,
    },
    /// Resend an earlier request's ids to another stream.
    RetryElsewhere {
        back: usize,
    },
    /// Close and reopen the log.
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let expectation = prop_oneof![
        Just(Expectation::Any),
        Just(Expectation::NoStream),
        Just(Expectation::StreamExists),
        (-1i64..=1).prop_map(Expectation::Exact),
    ];
    prop_oneof![
        6 => (0u32..4, expectation, 1usize..4).prop_map(|(stream, expectation, count)| Op::Append { stream, expectation, count }),
        2 => (0usize..8).prop_map(|back| Op::Retry { back }),
        1 => (0usize..8).prop_map(|back| Op::RetryAltered { back }),
        1 => (0usize..8).prop_map(|back| Op::RetryElsewhere { back }),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Debug, Clone)]
struct Sent {
    stream: StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
}

/// Outcome kinds compared between the log and the model.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Appended(AppendResult),
    WrongExpectedVersion { actual: Option<u64> },
    EventIdConflict { event_id: Uuid, position: u64 },
}

fn outcome(result: Result<AppendResult, AppendError>) -> Outcome {
    match result {
        Ok(r) => Outcome::Appended(r),
        Err(AppendError::WrongExpectedVersion { actual, .. }) => Outcome::WrongExpectedVersion { actual },
        Err(AppendError::EventIdConflict { event_id, position }) => Outcome::EventIdConflict { event_id, position },
        Err(other) => panic!("unexpected error from the log: {other}"),
    }
}

/// The model: a list of (stream, version, event) and nothing else.
#[derive(Default)]
struct Model {
    events: Vec<(StreamId, u64, NewEvent)>,
}

impl Model {
    fn current(&self, stream: &StreamId) -> Option<u64> {
        self.events.iter().filter(|(s, _, _)| s == stream).map(|(_, v, _)| *v).max()
    }

    fn position_of(&self, id: Uuid) -> Option<usize> {
        self.events.iter().position(|(_, _, e)| e.event_id == id)
    }

    fn append(&mut self, sent: &Sent) -> Outcome {
        let found: Vec<Option<usize>> = sent.events.iter().map(|e| self.position_of(e.event_id)).collect();
        if let Some(first_found) = found.iter().flatten().next().copied() {
            let first = &sent.events[0];
            let conflict =
                |i: usize, p: usize| Outcome::EventIdConflict { event_id: sent.events[i].event_id, position: p as u64 };
            if found.iter().any(Option::is_none) {
                let i = found.iter().position(Option::is_some).unwrap();
                return conflict(i, first_found);
            }
            let p0 = found[0].unwrap();
            let v0 = self.events[p0].1;
            for (i, p) in found.iter().enumerate() {
                let p = p.unwrap();
                let (s, v, e) = &self.events[p];
                if *s != sent.stream || *v != v0 + i as u64 || p != p0 + i || e != &sent.events[i] {
                    return conflict(i, p);
                }
            }
            if !sent.expected.is_met_by(v0.checked_sub(1)) {
                return Outcome::EventIdConflict { event_id: first.event_id, position: p0 as u64 };
            }
            let last = p0 + sent.events.len() - 1;
            return Outcome::Appended(AppendResult {
                first_position: p0 as u64,
                last_position: last as u64,
                stream_version: self.events[last].1,
            });
        }
        let current = self.current(&sent.stream);
        if !sent.expected.is_met_by(current) {
            return Outcome::WrongExpectedVersion { actual: current };
        }
        let first = self.events.len() as u64;
        let mut version = current.map_or(0, |v| v + 1);
        for e in &sent.events {
            self.events.push((sent.stream.clone(), version, e.clone()));
            version += 1;
        }
        Outcome::Appended(AppendResult {
            first_position: first,
            last_position: self.events.len() as u64 - 1,
            stream_version: version - 1,
        })
    }
}

fn run(ops: Vec<Op>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut log = EventLog::open(dir.path()).unwrap();
    let mut model = Model::default();
    let mut sent: Vec<Sent> = Vec::new();
    for op in ops {
        let request = match op {
            Op::Reopen => {
                drop(log);
                log = EventLog::open(dir.path()).unwrap();
                continue;
            }
            Op::Append { stream, expectation, count } => {
                let stream = sample_events::stream(stream);
                let current = model.current(&stream).map_or(-1, |v| v as i64);
                let expected = match expectation {
                    Expectation::Any => ExpectedVersion::Any,
                    Expectation::NoStream => ExpectedVersion::NoStream,
                    Expectation::StreamExists => ExpectedVersion::StreamExists,
                    Expectation::Exact(offset) => ExpectedVersion::Exact((current + offset).max(0) as u64),
                };
                let events = (0..count).map(|i| sample_events::new_event(format!("payload {i}").as_bytes())).collect();
                Sent { stream, expected, events }
            }
            Op::Retry { back } | Op::RetryAltered { back } | Op::RetryElsewhere { back } => {
                let Some(earlier) = sent.len().checked_sub(1 + back).map(|i| sent[i].clone()) else { continue };
                let mut request = earlier;
                if matches!(op, Op::RetryAltered { .. }) {
                    request.events.last_mut().unwrap().payload.push(b'!');
                }
                if matches!(op, Op::RetryElsewhere { .. }) {
                    request.stream = sample_events::stream(99);
                }
                request
            }
        };
        let expected = model.append(&request);
        let actual =
            outcome(runtime.block_on(log.append(request.stream.clone(), request.expected, request.events.clone())));
        assert_eq!(actual, expected, "request {request:?}");
        sent.push(request);
    }

    let stored: Vec<_> = log.read_all(0).collect::<Result<_, _>>().unwrap();
    assert_eq!(stored.len(), model.events.len());
    for (position, (recorded, (stream, version, event))) in stored.iter().zip(&model.events).enumerate() {
        assert_eq!(recorded.position, position as u64);
        assert_eq!(&recorded.stream, stream);
        assert_eq!(recorded.stream_version, *version);
        assert_eq!(recorded.event_id, event.event_id);
        assert_eq!(recorded.payload, event.payload);
        assert_eq!(recorded.metadata, event.metadata);
    }
    let mut by_stream: HashMap<StreamId, Vec<Uuid>> = HashMap::new();
    for (stream, _, event) in &model.events {
        by_stream.entry(stream.clone()).or_default().push(event.event_id);
    }
    for (stream, ids) in by_stream {
        let read: Vec<Uuid> = log.read_stream(&stream, 0).map(|e| e.unwrap().event_id).collect();
        assert_eq!(read, ids, "stream {stream}");
    }
    let report = log.verify(..).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.verified, model.events.len() as u64);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn log_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops);
    }
}
