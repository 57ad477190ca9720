//! Who may call which RPC of the projector. Deny by default. Object-level rules (partners see only their
//! own organisation) are in the handlers.

use contracts::projector::v1::SERVICE_NAME;
use domain_kernel::Role;
use service_runtime::AccessTable;

/// Staff and auditors: program-wide views.
const STAFF: &[Role] = &[Role::ProgramOfficer, Role::FinanceOfficer, Role::Auditor, Role::Administrator];
/// Staff, auditors and partners (limited to their organisation). Reviewers score applications; they have
/// no business with portfolios.
const READERS: &[Role] =
    &[Role::Partner, Role::ProgramOfficer, Role::FinanceOfficer, Role::Auditor, Role::Administrator];

/// The access table of `grants.projector.v1.ProjectorService`.
pub fn table() -> AccessTable {
    AccessTable::new(SERVICE_NAME)
        .allow("ListRoundPipelines", STAFF)
        .allow("GetRoundPipeline", STAFF)
        .allow("ListPortfolios", STAFF)
        .allow("GetPartnerPortfolio", READERS)
        .allow("GetProgramSummary", READERS)
        .allow("GetGrantTimeline", READERS)
        .allow("ListOverdueObligations", READERS)
        .allow("GetLag", STAFF)
        .allow("Rebuild", &[Role::Administrator])
        .allow("GetRebuildStatus", &[Role::Administrator])
        .allow("GetDigest", &[Role::Administrator, Role::Auditor])
}
