//! The server's limits, over the wire: an oversized request is refused before it reaches a handler and
//! changes nothing; after a graceful stop every acknowledged command is in the log.

mod common;

use contracts::applications::v1 as pb;
use domain_kernel::Role;
use test_support::{authed, request_id, token};
use tonic::Code;

#[tokio::test]
async fn an_oversized_request_is_refused_and_changes_nothing() {
    let server = common::start().await;
    let mut api = server.client(pb::ApplicationsServiceClient::new).await;
    let admin = token(Role::Administrator, "admin-1", None);
    let request = |legal_name: String| pb::RegisterOrganisationRequest {
        request_id: request_id(),
        organisation_id: uuid::Uuid::new_v4().to_string(),
        legal_name,
        country: "VN".into(),
        organisation_type: pb::OrganisationType::NationalNgo as i32,
        registration_number: format!("VN-{}", uuid::Uuid::new_v4()),
        contact_person: Some(pb::ContactPerson {
            full_name: "C".into(),
            email: "c@example.org".into(),
            phone: String::new(),
        }),
    };
    // 5 MiB, above the default 4 MiB limit.
    let oversized = api.register_organisation(authed(request("x".repeat(5 * 1024 * 1024)), &admin)).await.unwrap_err();
    // gRPC's convention for a message over the limit (tonic's own OUT_OF_RANGE is rewritten), naming the limit.
    assert_eq!(oversized.code(), Code::ResourceExhausted, "{oversized:?}");
    assert!(oversized.message().contains("limit is: 4194304 bytes"), "{}", oversized.message());
    let registered = api.register_organisation(authed(request("Hope Centre".into()), &admin)).await.unwrap();
    assert_eq!(registered.into_inner().organisation.unwrap().version, 1);

    let dir = server.stop().await;
    let log = event_log::EventLog::open(applications::service::log_dir(&dir.path().join("applications"))).unwrap();
    let types: Vec<_> = log.read_all(0).map(|e| e.unwrap().event_type).collect();
    assert_eq!(types, ["OrganisationRegistered"], "only the acknowledged command was recorded");
}
