//! The applications service process.
//!
//! ```text
//! GRANTS_JWT_SECRET=<32+ bytes> applications --listen 127.0.0.1:50051 --data-dir ./data/applications
//! ```

use applications::service::{PROCESS, run};
use service_runtime::launch::{Launched, NoFlags, service_main};

fn main() -> anyhow::Result<()> {
    service_main(PROCESS, |launched: Launched<NoFlags>| {
        run(launched.listener, launched.settings.into(), launched.shutdown)
    })
}
