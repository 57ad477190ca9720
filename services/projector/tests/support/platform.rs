//! The platform in this process on the real broker (a vhost of its own): the applications, awards and
//! reporting services, and the projector consuming their events.

use test_support::services::Sources;
use test_support::{Running, Vhost, start_projector, start_sources};

pub struct Platform {
    pub sources: Sources,
    pub projector: Running,
    /// Deleted when the platform is dropped.
    vhost: Vhost,
}

impl Platform {
    /// Starts the three source services and the projector (suppression k = 5), which fills gaps from
    /// their log services.
    pub async fn start() -> Platform {
        let vhost = Vhost::create();
        let sources = start_sources!(vhost.uri());
        let projector = start_projector!(vhost.uri(), sources.urls());
        Platform { sources, projector, vhost }
    }

    /// Stops the projector, then the sources, each gracefully.
    pub async fn stop(self) {
        let Platform { sources, projector, vhost } = self;
        projector.stop().await;
        sources.reporting.stop().await;
        sources.awards.stop().await;
        sources.applications.stop().await;
        drop(vhost);
    }
}
