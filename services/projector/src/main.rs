//! The projector process. Its operators' commands (`grants projector rebuild|digest`) call its gRPC
//! `Rebuild` and `GetDigest`.
//!
//! ```text
//! GRANTS_JWT_SECRET=<32+ bytes> projector --listen 127.0.0.1:50054 --data-dir ./data/projector \
//!     --source applications=http://127.0.0.1:50051 --source awards=http://127.0.0.1:50052 \
//!     --source reporting=http://127.0.0.1:50053 --perturbation-secret <32+ bytes>
//! ```

use projector::service::{Config, Flags, PROCESS, PerturbationConfig, run_with};
use service_runtime::launch::{Launched, service_main};

fn main() -> anyhow::Result<()> {
    service_main(PROCESS, |launched: Launched<Flags>| async move {
        let perturbation = PerturbationConfig::of_flags(&launched.flags, launched.settings.listen)?;
        let config = Config::new(launched.settings, &launched.flags)?;
        Box::pin(run_with(launched.listener, config, perturbation, launched.shutdown)).await
    })
}
