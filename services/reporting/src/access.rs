//! Who may call which RPC of the reporting service (the read-only log service beside it is governed by
//! the runtime's `log_access_table`). Deny by default: an RPC missing here is refused to every role.
//! Object-level rules (partners only their own organisation's obligations and reports) are in the domain.

use contracts::reporting::v1::SERVICE_NAME;
use domain_kernel::Role;
use service_runtime::AccessTable;

const PROGRAM_OFFICER: &[Role] = &[Role::ProgramOfficer];
/// Safeguarding erasures of free text.
const ERASERS: &[Role] = &[Role::ProgramOfficer, Role::Administrator];
/// Reviewers score applications; they have no business with reports.
const READERS: &[Role] =
    &[Role::Partner, Role::ProgramOfficer, Role::FinanceOfficer, Role::Auditor, Role::Administrator];
const STAFF_READERS: &[Role] = &[Role::ProgramOfficer, Role::FinanceOfficer, Role::Auditor, Role::Administrator];

/// The access table of `grants.reporting.v1.ReportingService`.
pub fn table() -> AccessTable {
    AccessTable::new(SERVICE_NAME)
        .allow("SubmitReport", &[Role::Partner])
        .allow("RequestRevision", PROGRAM_OFFICER)
        .allow("AcceptReport", PROGRAM_OFFICER)
        .allow("EraseReportText", ERASERS)
        .allow("GetObligations", READERS)
        .allow("GetReport", READERS)
        .allow("ListReportsAwaitingReview", STAFF_READERS)
        .allow("GetIndicatorCatalogue", &Role::ALL)
}
