//! The platform's contracts from `proto/`, compiled with protox at build time, behind a small facade.
//!
//! The generated code is private; each protobuf package is re-exported as a module of curated items
//! (`contracts::applications::v1::OpenRoundRequest`, `contracts::common::v1::Money`, ...). Conversions
//! between wire messages and the domain values of `domain_kernel` (money, ids, timestamps, dates,
//! countries) are written once, in [`values`], and report the field and the rule a value breaks. Each
//! service's events are one typed enum ([`events`]: `contracts::awards::v1::AwardsEvent`), and the names
//! of services and stream types are spelled once, in [`names`].
//!
//! The event log's own record (`grants.eventlog.v1`) is compiled by the `event-log` crate and is not
//! repeated here.

mod generated {
    // Messages a package defines but no service re-exports yet are not an error.
    #![allow(clippy::all, clippy::pedantic, dead_code, missing_debug_implementations, rust_2018_idioms)]
    pub mod grants {
        pub mod common {
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/grants.common.v1.rs"));
            }
        }
        pub mod applications {
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/grants.applications.v1.rs"));
            }
        }
        pub mod operations {
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/grants.operations.v1.rs"));
            }
        }
    }
}

pub mod events;
pub mod free_text;
pub mod names;
pub mod values;

/// The encoded `FileDescriptorSet` of every contract in this crate (with source comments), for the
/// reflection service and for tests that enumerate a service's RPCs.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));

/// `grants.common.v1`: types every service shares.
pub mod common {
    pub mod v1 {
        pub use crate::generated::grants::common::v1::free_text::Entry as FreeTextEntry;
        pub use crate::generated::grants::common::v1::{
            Date, ErasureReason, FreeText, Money, PageRequest, SealedPersonalData,
        };
    }
}

/// `grants.applications.v1`: the applications service, its views and its events.
pub mod applications {
    pub mod v1 {
        /// Full name of the gRPC service, as used in paths and in the health service.
        pub const SERVICE_NAME: &str = "grants.applications.v1.ApplicationsService";

        pub use crate::generated::grants::applications::v1::applications_service_client::ApplicationsServiceClient;
        pub use crate::generated::grants::applications::v1::applications_service_server::{
            ApplicationsService, ApplicationsServiceServer,
        };
        // Shared types.
        pub use crate::generated::grants::applications::v1::{
            ApplicationContent, BudgetLine, ContactPerson, Criterion, CriterionScore, OrganisationType, Recommendation,
            ServiceType,
        };
        // Events.
        pub use crate::events::ApplicationsEvent;
        pub use crate::generated::grants::applications::v1::{
            ApplicationApproved, ApplicationDrafted, ApplicationEdited, ApplicationRejected, ApplicationSubmitted,
            ApplicationTextErased, ApplicationWithdrawn, ConflictOfInterestDeclared, ContactPersonErased,
            OrganisationRegistered, ReviewRecorded, ReviewerAssigned, RoundClosed, RoundOpened,
        };
        // Views, requests and responses.
        pub use crate::generated::grants::applications::v1::{
            Application, ApplicationResponse, ApplicationStatus, ApproveApplicationRequest, AssignReviewerRequest,
            CloseRoundRequest, Decision, DeclareConflictOfInterestRequest, DraftApplicationRequest,
            EditApplicationRequest, EraseApplicationTextRequest, EraseContactPersonRequest, GetApplicationRequest,
            GetOrganisationRequest, GetRoundRequest, ListApplicationsRequest, ListApplicationsResponse,
            OpenRoundRequest, Organisation, OrganisationResponse, RecordReviewRequest, RegisterOrganisationRequest,
            RejectApplicationRequest, Review, ReviewerView, Round, RoundResponse, RoundStatus,
            SubmitApplicationRequest, WithdrawApplicationRequest,
        };
    }
}

/// The generated code of the awards and reporting packages, nested like `generated` so that the paths
/// prost writes between packages (`super::super::common::v1::Money`) resolve to the same shared types.
mod generated_awards {
    #![allow(clippy::all, clippy::pedantic, missing_debug_implementations, rust_2018_idioms)]
    pub mod grants {
        pub mod common {
            pub mod v1 {
                pub use crate::generated::grants::common::v1::*;
            }
        }
        pub mod reporting {
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/grants.reporting.v1.rs"));
            }
        }
        pub mod awards {
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/grants.awards.v1.rs"));
            }
        }
    }
}

/// `grants.reporting.v1`: the reporting service, its views and its events.
pub mod reporting {
    pub mod v1 {
        /// Full name of the gRPC service, as used in paths and in the health service.
        pub const SERVICE_NAME: &str = "grants.reporting.v1.ReportingService";

        pub use crate::generated_awards::grants::reporting::v1::reporting_service_client::ReportingServiceClient;
        pub use crate::generated_awards::grants::reporting::v1::reporting_service_server::{
            ReportingService, ReportingServiceServer,
        };
        // Events.
        pub use crate::events::ReportingEvent;
        pub use crate::generated_awards::grants::reporting::v1::{
            DisbursementRecorded, ObligationsCancelled, ObligationsRescheduled, ObligationsResumed,
            ObligationsScheduled, ObligationsSuspended, ReportAccepted, ReportSubmitted, ReportTextErased,
            RevisionRequested,
        };
        // Shared types.
        pub use crate::generated_awards::grants::reporting::v1::{
            AgeBand, Attestations, BudgetLine, Cell, Disability, DueDateExtension, FinancialContent, FinancialSummary,
            IndicatorValue, LineExpenditure, LineVariance, Obligation, ProgressContent, ReportKind, Sex,
        };
        // Views, requests and responses.
        pub use crate::generated_awards::grants::reporting::v1::{
            AcceptReportRequest, EraseReportTextRequest, GetIndicatorCatalogueRequest, GetObligationsRequest,
            GetReportRequest, IndicatorCatalogue, IndicatorDefinition, ListReportsAwaitingReviewRequest,
            ListReportsResponse, ObligationStatus, ObligationView, ObligationsResponse, Report, ReportResponse,
            ReportVersion, RequestRevisionRequest, ReviewStatus, SubmitReportRequest,
        };
    }
}

/// `grants.awards.v1`: the awards service, its views and its events.
pub mod awards {
    pub mod v1 {
        /// Full name of the gRPC service, as used in paths and in the health service.
        pub const SERVICE_NAME: &str = "grants.awards.v1.AwardsService";

        pub use crate::generated_awards::grants::awards::v1::awards_service_client::AwardsServiceClient;
        pub use crate::generated_awards::grants::awards::v1::awards_service_server::{
            AwardsService, AwardsServiceServer,
        };
        // Shared types.
        pub use crate::generated_awards::grants::awards::v1::variation_change::Change;
        pub use crate::generated_awards::grants::awards::v1::{
            AgreementTerms, AmountChange, BudgetLine, BudgetLineAmount, BudgetMove, EndDateChange, Payment,
            Reallocation, ReportRequirement, Tranche, TrancheAmount, TrancheKind, VariationChange,
        };
        // Events.
        pub use crate::events::AwardsEvent;
        pub use crate::generated_awards::grants::awards::v1::{
            AgreementSet, AgreementSigned, AwardClosed, AwardOffered, AwardResumed, AwardSuspended, AwardTerminated,
            AwardTextErased, BudgetReallocated, GatingReport, ReportConditionMet, TrancheReleased, VariationApproved,
            VariationDeclined, VariationRequested, VariationTextErased,
        };
        // Views, requests and responses.
        pub use crate::generated_awards::grants::awards::v1::{
            ApproveVariationRequest, Award, AwardResponse, AwardStatus, CloseAwardRequest, DeclineVariationRequest,
            EraseAwardTextRequest, GetAwardRequest, HistoryEntry, ListAwardsRequest, ListAwardsResponse,
            ReallocateBudgetRequest, ReleaseTrancheRequest, ReportCondition, RequestVariationRequest,
            ResumeAwardRequest, SetAgreementRequest, SignAgreementRequest, SuspendAwardRequest, TerminateAwardRequest,
            TrancheStatus, TrancheView, VariationStatus, VariationView,
        };
    }
}

/// The generated code of the projector package, nested like `generated_awards` so that its paths to the
/// shared and reporting types (`super::super::reporting::v1::Sex`) resolve to the same types.
mod generated_projector {
    #![allow(clippy::all, clippy::pedantic, missing_debug_implementations, rust_2018_idioms)]
    pub mod grants {
        pub mod common {
            pub mod v1 {
                pub use crate::generated::grants::common::v1::*;
            }
        }
        pub mod reporting {
            pub mod v1 {
                pub use crate::generated_awards::grants::reporting::v1::*;
            }
        }
        pub mod projector {
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/grants.projector.v1.rs"));
            }
        }
    }
}

/// `grants.projector.v1`: the projector's query API over the read models.
pub mod projector {
    pub mod v1 {
        /// Full name of the gRPC service, as used in paths and in the health service.
        pub const SERVICE_NAME: &str = "grants.projector.v1.ProjectorService";

        pub use crate::generated_projector::grants::projector::v1::as_of::Point;
        pub use crate::generated_projector::grants::projector::v1::get_grant_timeline_request::Grant;
        pub use crate::generated_projector::grants::projector::v1::projector_service_client::ProjectorServiceClient;
        pub use crate::generated_projector::grants::projector::v1::projector_service_server::{
            ProjectorService, ProjectorServiceServer,
        };
        // Views.
        pub use crate::generated_projector::grants::projector::v1::{
            AgeBandMargin, ApplicationStage, AsOf, AwardPosition, CountryPipeline, CountryTotals, CurrencyTotals,
            Digest, DisabilityMargin, GrantTimeline, IndicatorCell, IndicatorSummary, Lag, ObligationDue,
            PartnerPortfolio, ProgramSummary, ProtectedCount, RebuildState, RebuildStatus, RoundPipeline,
            ServiceTypeTotals, SexMargin, SourceLag, SourcePositions, SourceProgress, StageCount, TimelineEntry,
        };
        // Requests and responses.
        pub use crate::generated_projector::grants::projector::v1::{
            GetDigestRequest, GetGrantTimelineRequest, GetLagRequest, GetPartnerPortfolioRequest,
            GetProgramSummaryRequest, GetRebuildStatusRequest, GetRoundPipelineRequest, ListOverdueObligationsRequest,
            ListOverdueObligationsResponse, ListPortfoliosRequest, ListPortfoliosResponse, ListRoundPipelinesRequest,
            ListRoundPipelinesResponse, RebuildRequest,
        };
    }
}

/// `grants.operations.v1`: what every service process answers about its own operation (its bus).
pub mod operations {
    pub mod v1 {
        /// Full name of the gRPC service, as used in paths and in the health service.
        pub const SERVICE_NAME: &str = "grants.operations.v1.OperationsService";

        pub use crate::generated::grants::operations::v1::operations_service_client::OperationsServiceClient;
        pub use crate::generated::grants::operations::v1::operations_service_server::{
            OperationsService, OperationsServiceServer,
        };
        pub use crate::generated::grants::operations::v1::{
            BusStatus, ConsumerStatus, GetBusStatusRequest, RelayStatus, SourceStatus,
        };
    }
}
