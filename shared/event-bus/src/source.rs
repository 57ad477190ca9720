//! Where a consumer reads events it has not received, to fill a gap before a message that arrived early.

use std::collections::HashMap;
use std::future::Future;

use event_log::{EventLog, RecordedEvent};

use crate::error::SourceError;

/// Reads a source service's log. In a deployment this goes through the source's log-reading service; in
/// tests and single-process setups it is the [`EventLog`] itself.
pub trait SourceReader: Send {
    /// The events at positions `from..to` of `source`'s log, in position order (the consumer checks that
    /// none is missing).
    fn read_range(
        &mut self,
        source: &str,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, SourceError>> + Send;

    /// The number of durable events of `source`'s log (the position its next event will get): how far a
    /// consumer that starts late, or whose queue did not exist when the source published, must catch up.
    fn head(&mut self, source: &str) -> impl Future<Output = Result<u64, SourceError>> + Send;
}

fn read_local(log: &EventLog, source: &str, from: u64, to: u64) -> Result<Vec<RecordedEvent>, SourceError> {
    log.read_range(from..to).collect::<Result<Vec<_>, _>>().map_err(SourceError::failed(source))
}

/// A single local log serves whatever source is asked for: for consumers of one source.
impl SourceReader for EventLog {
    async fn read_range(&mut self, source: &str, from: u64, to: u64) -> Result<Vec<RecordedEvent>, SourceError> {
        read_local(self, source, from, to)
    }

    async fn head(&mut self, _source: &str) -> Result<u64, SourceError> {
        Ok(self.next_position())
    }
}

/// Local logs by source service name.
impl SourceReader for HashMap<String, EventLog> {
    async fn read_range(&mut self, source: &str, from: u64, to: u64) -> Result<Vec<RecordedEvent>, SourceError> {
        let log = self.get(source).ok_or_else(|| SourceError::UnknownSource(source.to_owned()))?;
        read_local(log, source, from, to)
    }

    async fn head(&mut self, source: &str) -> Result<u64, SourceError> {
        self.get(source).map(EventLog::next_position).ok_or_else(|| SourceError::UnknownSource(source.to_owned()))
    }
}
