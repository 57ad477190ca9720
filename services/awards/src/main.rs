//! The awards service process.
//!
//! ```text
//! GRANTS_JWT_SECRET=<32+ bytes> awards --listen 127.0.0.1:50052 --data-dir ./data/awards \
//!     --source applications=http://127.0.0.1:50051 --source reporting=http://127.0.0.1:50053
//! ```

use awards::service::{PROCESS, run};
use service_runtime::launch::{Launched, NoFlags, service_main};

fn main() -> anyhow::Result<()> {
    service_main(PROCESS, |launched: Launched<NoFlags>| {
        run(launched.listener, launched.settings.into(), launched.shutdown)
    })
}
