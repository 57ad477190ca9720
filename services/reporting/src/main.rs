//! The reporting service process.
//!
//! ```text
//! GRANTS_JWT_SECRET=<32+ bytes> reporting --listen 127.0.0.1:50053 --data-dir ./data/reporting \
//!     --source awards=http://127.0.0.1:50052
//! ```

use reporting::service::{Config, Flags, PROCESS, run};
use service_runtime::launch::{Launched, service_main};

fn main() -> anyhow::Result<()> {
    service_main(PROCESS, |launched: Launched<Flags>| {
        run(launched.listener, Config::new(launched.settings, launched.flags), launched.shutdown)
    })
}
