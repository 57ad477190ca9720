//! A message over the size limit is `RESOURCE_EXHAUSTED`, gRPC's convention (and what other gRPC
//! implementations answer), whereas tonic reports it as `OUT_OF_RANGE`. This layer rewrites that one
//! status, wherever tonic puts it: in the response headers (a request too large to decode) or in the
//! trailers of a streamed response (an answer too large to encode). Every other status passes unchanged.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderMap;
use http_body_util::BodyExt;
use tonic::body::Body;

/// The status code tonic gives a message over the limit (OUT_OF_RANGE), and the one gRPC expects.
const TONIC_CODE: &str = "11";
const GRPC_CODE: &str = "8";
/// The words tonic's message starts with for both directions ("Error, decoded/encoded message length too
/// large: ..."), so that an OUT_OF_RANGE a handler chooses for another reason is left alone.
const TONIC_MESSAGE: &str = "message length too large";

/// Rewrites a too-large message's status in a header map (response headers or trailers).
fn rewrite(headers: &mut HeaderMap) {
    let is_size_limit = headers.get("grpc-status").is_some_and(|code| code == TONIC_CODE)
        && headers.get("grpc-message").and_then(|m| m.to_str().ok()).is_some_and(|m| {
            // The message is percent-encoded on the wire; spaces appear as %20.
            m.replace("%20", " ").contains(TONIC_MESSAGE)
        });
    if is_size_limit {
        headers.insert("grpc-status", http::HeaderValue::from_static(GRPC_CODE));
    }
}

/// See the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct MessageLimitLayer;

impl<S> tower::Layer<S> for MessageLimitLayer {
    type Service = MessageLimitService<S>;

    fn layer(&self, inner: S) -> MessageLimitService<S> {
        MessageLimitService { inner }
    }
}

/// See [`MessageLimitLayer`].
#[derive(Clone, Debug)]
pub struct MessageLimitService<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> tower::Service<http::Request<Body>> for MessageLimitService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            rewrite(response.headers_mut());
            Ok(response.map(|body| {
                Body::new(body.map_frame(|mut frame| {
                    if let Some(trailers) = frame.trailers_mut() {
                        rewrite(trailers);
                    }
                    frame
                }))
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(code: &'static str, message: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", http::HeaderValue::from_static(code));
        headers.insert("grpc-message", http::HeaderValue::from_static(message));
        headers
    }

    #[test]
    fn only_the_size_limit_becomes_resource_exhausted() {
        let mut too_large = headers("11", "Error,%20decoded%20message%20length%20too%20large:%20found%205%20bytes");
        rewrite(&mut too_large);
        assert_eq!(too_large["grpc-status"], "8");
        let mut other = headers("11", "`page_size`%20is%20out%20of%20range");
        rewrite(&mut other);
        assert_eq!(other["grpc-status"], "11");
        let mut invalid = headers("3", "message%20length%20too%20large");
        rewrite(&mut invalid);
        assert_eq!(invalid["grpc-status"], "3");
    }
}
