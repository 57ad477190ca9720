//! The platform in this process on the real broker (a vhost of its own): the applications, awards and
//! reporting services, and the projector consuming their events.

use contracts::names::service;
use test_support::services::{Sources, listen, server_config};
use test_support::{Running, Vhost, jwt, start_sources};

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
        let (amqp_uri, source_logs) = (vhost.uri(), sources.urls());
        let config = |data_dir| projector::service::Config {
            data_dir,
            server: server_config(),
            jwt: jwt(),
            amqp_uri: Some(amqp_uri),
            source_logs,
            suppression_k: 5,
            replica: None,
        };
        let projector = Running::start(
            listen().await,
            service::PROJECTOR,
            tempfile::tempdir().unwrap(),
            projector::service::run,
            config,
        );
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
