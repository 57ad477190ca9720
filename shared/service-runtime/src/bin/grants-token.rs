//! Issues development tokens for the platform's roles.
//!
//! ```text
//! GRANTS_JWT_SECRET=... grants-token --role program_officer --subject po-1
//! GRANTS_JWT_SECRET=... grants-token --role partner --subject p-1 --organisation <organisation uuid>
//! ```

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use domain_kernel::Role;
use service_runtime::config::JwtArgs;
use service_runtime::identity::issue_dev_token;

#[derive(Debug, Parser)]
#[command(about = "Issue a development bearer token for one role of the grants platform")]
struct Args {
    /// partner, program_officer, reviewer, finance_officer, auditor or administrator.
    #[arg(long)]
    role: String,
    /// The token's subject (`sub`).
    #[arg(long)]
    subject: String,
    /// Organisation id (`org`); required for partners.
    #[arg(long)]
    organisation: Option<String>,
    /// Validity in seconds.
    #[arg(long, default_value_t = 8 * 3600)]
    ttl_seconds: u64,
    #[command(flatten)]
    jwt: JwtArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let role = Role::parse(&args.role).with_context(|| {
        let roles: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("`--role` must be one of {}", roles.join(", "))
    })?;
    let token = issue_dev_token(
        &args.jwt.to_config(),
        role,
        &args.subject,
        args.organisation.as_deref(),
        Duration::from_secs(args.ttl_seconds),
    )?;
    println!("{token}");
    Ok(())
}
