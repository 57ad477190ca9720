//! Every RPC of the service (enumerated from the compiled descriptor) against every role: allowed exactly
//! as the table below says, over the wire; denied by default. The service runs without a bus.

use std::collections::HashMap;

use contracts::reporting::v1::SERVICE_NAME;
use domain_kernel::Role;
use test_support::authorization::{
    assert_enforced, assert_not_yet_valid_token_refused, assert_table_covers, service_methods,
};
use test_support::services::listen;
use test_support::{authed, token};
use tonic::Code;

/// The expected rules, written independently of `reporting::access::table()`.
fn expected(method: &str) -> &'static [Role] {
    use Role::*;
    match method {
        "SubmitReport" => &[Partner],
        "RequestRevision" | "AcceptReport" => &[ProgramOfficer],
        "EraseReportText" => &[ProgramOfficer, Administrator],
        "GetObligations" | "GetReport" => &[Partner, ProgramOfficer, FinanceOfficer, Auditor, Administrator],
        "ListReportsAwaitingReview" => &[ProgramOfficer, FinanceOfficer, Auditor, Administrator],
        "GetIndicatorCatalogue" => &Role::ALL,
        _ => &[],
    }
}

#[test]
fn the_table_covers_exactly_the_services_rpcs() {
    assert_table_covers(&reporting::access::table(), SERVICE_NAME, 8, expected);
}

#[tokio::test]
async fn every_rpc_and_role_is_enforced_over_the_wire_and_the_catalogue_is_served() {
    let server = test_support::start_reporting!(listen().await, tempfile::tempdir().unwrap(), None, HashMap::new());
    let channel = server.channel().await;

    for method in service_methods(SERVICE_NAME) {
        assert_enforced(&channel, SERVICE_NAME, &method, expected(&method)).await;
        assert_not_yet_valid_token_refused(&channel, SERVICE_NAME, &method).await;
    }

    let mut client = contracts::reporting::v1::ReportingServiceClient::new(channel.clone());
    let request = authed(contracts::reporting::v1::GetIndicatorCatalogueRequest {}, &token(Role::Reviewer, "r", None));
    let catalogue = client.get_indicator_catalogue(request).await.unwrap().into_inner();
    assert_eq!(catalogue.version, reporting::domain::catalogue::Catalogue::embedded().unwrap().version);
    let shelter = catalogue.indicators.iter().find(|i| i.indicator_id == "persons_assisted_shelter").unwrap();
    assert_eq!(shelter.dimensions, ["sex", "age_band", "disability"]);

    // An unknown award reads as not found, a malformed id is invalid.
    let request =
        contracts::reporting::v1::GetObligationsRequest { award_id: uuid::Uuid::new_v4().to_string(), as_of: None };
    let status = client.get_obligations(authed(request, &token(Role::Auditor, "a", None))).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let request = contracts::reporting::v1::GetObligationsRequest { award_id: "nope".into(), as_of: None };
    let status = client.get_obligations(authed(request, &token(Role::Auditor, "a", None))).await.unwrap_err();
    assert_eq!((status.code(), status.message().contains("`award_id`")), (Code::InvalidArgument, true));

    server.stop().await;
}

#[test]
fn a_catalogue_file_that_breaks_a_rule_stops_the_service_before_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("indicators.json");
    std::fs::write(&path, r#"{"version": "x", "indicators": [{"indicator_id": "a", "title": "t", "unit": "u", "group": "g", "dimensions": ["name"]}]}"#).unwrap();
    let error = reporting::service::load_catalogue(Some(&path)).unwrap_err().to_string();
    assert!(error.contains("`name` is not one of"), "{error}");
    std::fs::write(&path, reporting::domain::catalogue::EMBEDDED).unwrap();
    assert!(reporting::service::load_catalogue(Some(&path)).is_ok());
}
