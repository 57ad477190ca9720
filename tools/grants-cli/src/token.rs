//! `grants token`: a development bearer token for one role, signed with the services' secret.

use std::time::Duration;

use anyhow::Context;
use domain_kernel::Role;

use crate::Outcome;
use crate::endpoints::Connection;
use crate::stdout::say;

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
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
}

/// Prints the token alone on its line, so that `TOKEN=$(grants token ...)` takes it as it is.
pub fn run(connection: &Connection, args: &TokenArgs) -> anyhow::Result<Outcome> {
    let role = parse_role(&args.role)?;
    let ttl = Duration::from_secs(args.ttl_seconds);
    let token = connection.issue_for(role, &args.subject, args.organisation.as_deref(), ttl)?;
    say!("{token}");
    Ok(Outcome::Verified)
}

fn parse_role(name: &str) -> anyhow::Result<Role> {
    Role::parse(name).with_context(|| {
        let roles: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("`--role {name}` must be one of {}", roles.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_spelt_as_in_tokens() {
        assert_eq!(parse_role("program_officer").unwrap(), Role::ProgramOfficer);
        let error = format!("{:#}", parse_role("officer").unwrap_err());
        assert_eq!(
            error,
            "`--role officer` must be one of partner, program_officer, reviewer, finance_officer, auditor, administrator"
        );
    }
}
