//! A client of a service's log: decodes envelopes into recorded events and checks each one's own hash;
//! [`LogClient::verify`] recomputes the whole chain on the client side.

use event_log::{ChainVerifier, CheckedRecord, Hash, RecordedEvent, VerifyReport};
use futures::{Stream, StreamExt};
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::pb::event_log_service_client::EventLogServiceClient;
use crate::pb::{EventBatch, GetHeadRequest, ReadAllRequest, ReadStreamRequest, SubscribeRequest};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to the log service at {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("cannot connect to the log service: {0}")]
    Address(#[from] tls::EndpointError),
    #[error("cannot connect to the log service at {address}: token is not valid ASCII")]
    TokenNotAscii { address: String },
    #[error("log service answered {}: {}", .0.code(), .0.message())]
    Status(#[from] Status),
    #[error("log service sent an event that does not decode: {0}")]
    Decode(#[from] event_log::DecodeError),
    #[error("log service sent position {actual} where {expected} was due")]
    OutOfOrder { expected: u64, actual: u64 },
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone, Debug)]
pub struct BearerToken(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// The head of a remote log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteHead {
    pub service: String,
    pub next_position: u64,
    pub head_hash: Option<Hash>,
}

#[derive(Clone, Debug)]
pub struct LogClient {
    inner: EventLogServiceClient<InterceptedService<Channel, BearerToken>>,
}

impl LogClient {
    /// Connects to `address` (for example `http://127.0.0.1:50051`), sending `token` with every call.
    pub async fn connect(address: &str, token: Option<&str>) -> Result<LogClient, ClientError> {
        LogClient::connect_with(address, token, None).await
    }

    /// Connects to `address` over TLS with `tls` when it is `https://` (for example
    /// `https://127.0.0.1:50051`), plaintext when it is `http://` and `tls` is `None`; a server whose
    /// certificate `tls`'s CA did not sign, or that is expired, is refused at the handshake.
    pub async fn connect_with(
        address: &str,
        token: Option<&str>,
        tls: Option<&tls::ClientTls>,
    ) -> Result<LogClient, ClientError> {
        let connect_error = |source| ClientError::Connect { address: address.to_owned(), source };
        let endpoint = Endpoint::from_shared(address.to_owned()).map_err(connect_error)?;
        let endpoint = tls::secure(endpoint, tls)?;
        let channel = endpoint.connect().await.map_err(connect_error)?;
        let token = match token {
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| ClientError::TokenNotAscii { address: address.to_owned() })?,
            ),
            None => None,
        };
        let inner = EventLogServiceClient::with_interceptor(channel, BearerToken(token))
            .max_decoding_message_size(64 * 1024 * 1024);
        Ok(LogClient { inner })
    }

    pub async fn head(&mut self) -> Result<RemoteHead, ClientError> {
        let head = self.inner.get_head(GetHeadRequest {}).await?.into_inner();
        Ok(RemoteHead {
            service: head.service,
            next_position: head.next_position,
            head_hash: Hash::from_slice(&head.head_hash),
        })
    }

    /// Events `from..until` (at most up to the head when the call starts), decoded and in order.
    pub async fn read_range(&mut self, from: u64, until: u64) -> Result<Vec<RecordedEvent>, ClientError> {
        let max_events = until.saturating_sub(from);
        if max_events == 0 {
            return Ok(Vec::new());
        }
        let stream = self.inner.read_all(ReadAllRequest { from_position: from, max_events }).await?.into_inner();
        let mut events = Vec::with_capacity(usize::try_from(max_events).unwrap_or(0).min(65_536));
        let mut decoded = std::pin::pin!(decode_in_order(stream, from));
        while let Some(event) = decoded.next().await {
            events.push(event?);
        }
        Ok(events)
    }

    /// The whole log from `from` on as it stands when the call starts, decoded and in order.
    pub async fn read_all(
        &mut self,
        from: u64,
    ) -> Result<impl Stream<Item = Result<RecordedEvent, ClientError>> + use<>, ClientError> {
        let stream = self.inner.read_all(ReadAllRequest { from_position: from, max_events: 0 }).await?.into_inner();
        Ok(decode_in_order(stream, from))
    }

    /// Everything from `from` on, then each new event as it becomes durable.
    pub async fn subscribe(
        &mut self,
        from: u64,
    ) -> Result<impl Stream<Item = Result<RecordedEvent, ClientError>> + use<>, ClientError> {
        let stream = self.inner.subscribe(SubscribeRequest { from_position: from }).await?.into_inner();
        Ok(decode_in_order(stream, from))
    }

    /// The events of one stream from a version on.
    pub async fn read_stream(
        &mut self,
        stream_type: &str,
        stream_key: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, ClientError> {
        let request =
            ReadStreamRequest { stream_type: stream_type.to_owned(), stream_key: stream_key.to_owned(), from_version };
        let mut stream = self.inner.read_stream(request).await?.into_inner();
        let mut events = Vec::new();
        while let Some(batch) = stream.message().await? {
            for envelope in batch.events {
                events.push(event_log::decode_envelope_parts(&envelope.record, &envelope.hash)?);
            }
        }
        Ok(events)
    }

    /// Recomputes the hash chain of the whole remote log on this side, calling `progress` with the number
    /// of events checked after each batch. Stops at the first mismatch.
    pub async fn verify(&mut self, progress: impl FnMut(u64)) -> Result<VerifyReport, ClientError> {
        self.verify_observing(progress, |_, _, _| {}).await
    }

    /// As [`LogClient::verify`], also showing `observe` the position, hash and record of every event that
    /// verified (for example to check kept or recorded checkpoints against the very stream that was verified).
    pub async fn verify_observing(
        &mut self,
        mut progress: impl FnMut(u64),
        mut observe: impl FnMut(u64, &Hash, &CheckedRecord),
    ) -> Result<VerifyReport, ClientError> {
        let mut stream = self.inner.read_all(ReadAllRequest { from_position: 0, max_events: 0 }).await?.into_inner();
        let mut verifier = ChainVerifier::from_genesis();
        let mut checked = 0u64;
        while let Some(batch) = stream.message().await? {
            for envelope in batch.events {
                let Some(hash) = Hash::from_slice(&envelope.hash) else {
                    let mismatch = event_log::Mismatch {
                        position: verifier.next_position(),
                        reason: "envelope hash is not 32 bytes".into(),
                    };
                    return Ok(verifier.report(Some(mismatch)));
                };
                let position = verifier.next_position();
                match verifier.check(&envelope.record, &hash) {
                    Ok(record) => observe(position, &hash, &record),
                    Err(mismatch) => return Ok(verifier.report(Some(mismatch))),
                }
                checked += 1;
            }
            progress(checked);
        }
        Ok(verifier.report(None))
    }
}

/// Decodes batches into events, checking each event's own hash and that positions follow on from `from`.
fn decode_in_order(
    batches: tonic::Streaming<EventBatch>,
    from: u64,
) -> impl Stream<Item = Result<RecordedEvent, ClientError>> {
    futures::stream::unfold(
        (batches, from, std::collections::VecDeque::new()),
        |(mut batches, next, mut pending)| async move {
            loop {
                if let Some(envelope) = pending.pop_front() {
                    let envelope: crate::pb::EventEnvelope = envelope;
                    let event = match event_log::decode_envelope_parts(&envelope.record, &envelope.hash) {
                        Ok(event) if event.position != next => {
                            Err(ClientError::OutOfOrder { expected: next, actual: event.position })
                        }
                        Ok(event) => Ok(event),
                        Err(e) => Err(e.into()),
                    };
                    return Some((event, (batches, next + 1, pending)));
                }
                match batches.message().await {
                    Ok(Some(batch)) => pending.extend(batch.events),
                    Ok(None) => return None,
                    Err(status) => return Some((Err(status.into()), (batches, next, pending))),
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[tokio::test]
    async fn a_failed_connection_keeps_its_cause_under_the_same_message() {
        let Err(refused) = LogClient::connect("not an address", None).await else { panic!("connected to no address") };
        assert!(matches!(&refused, ClientError::Connect { address, .. } if address == "not an address"));
        let cause = refused.source().expect("the cause is kept");
        assert_eq!(refused.to_string(), format!("cannot connect to the log service at not an address: {cause}"));
    }
}
