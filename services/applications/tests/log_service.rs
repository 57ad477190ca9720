//! The service's own log, served read-only beside its API: who may read it, and that a client verifies
//! the chain of what the service recorded.

mod common;

use contracts::applications::v1 as pb;
use domain_kernel::Role;
use event_log_grpc::{ClientError, LogClient};
use test_support::{authed, request_id, token};
use tonic::Code;

#[tokio::test]
async fn auditors_and_staff_read_and_verify_the_log_others_are_refused() {
    let server = common::start().await;
    let mut api = server.client(pb::ApplicationsServiceClient::new).await;
    let admin = token(Role::Administrator, "admin-1", None);
    for n in 0..3 {
        let organisation_id = uuid::Uuid::new_v4().to_string();
        let request = pb::RegisterOrganisationRequest {
            request_id: request_id(),
            organisation_id: organisation_id.clone(),
            legal_name: format!("Partner {n}"),
            country: "TH".into(),
            organisation_type: pb::OrganisationType::CommunityBased as i32,
            registration_number: format!("TH-{n}"),
            contact_person: Some(pb::ContactPerson {
                full_name: "Contact".into(),
                email: "contact@example.org".into(),
                phone: String::new(),
            }),
        };
        api.register_organisation(authed(request, &admin)).await.unwrap();
    }
    let address = format!("http://{}", server.address);

    for role in [Role::Auditor, Role::Administrator, Role::ProgramOfficer] {
        let mut client = LogClient::connect(&address, Some(&token(role, "reader", None))).await.unwrap();
        let head = client.head().await.unwrap();
        assert_eq!((head.service.as_str(), head.next_position), ("applications", 3), "{role}");
        let report = client.verify(|_| {}).await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.verified, 3);
        assert_eq!(report.last_verified.map(|h| h.hash), head.head_hash);
        let events = client.read_range(0, 3).await.unwrap();
        assert!(
            events.iter().all(|e| e.event_type == "OrganisationRegistered" && e.metadata.actor.subject == "admin-1")
        );
    }

    let organisation = uuid::Uuid::new_v4().to_string();
    for (role, organisation) in
        [(Role::Partner, Some(organisation.as_str())), (Role::Reviewer, None), (Role::FinanceOfficer, None)]
    {
        let mut client = LogClient::connect(&address, Some(&token(role, "someone", organisation))).await.unwrap();
        match client.head().await {
            Err(ClientError::Status(status)) => assert_eq!(status.code(), Code::PermissionDenied, "{role}"),
            other => panic!("{role} read the log: {other:?}"),
        }
    }
    let mut anonymous = LogClient::connect(&address, None).await.unwrap();
    match anonymous.read_range(0, 1).await {
        Err(ClientError::Status(status)) => assert_eq!(status.code(), Code::Unauthenticated),
        other => panic!("read without a token: {other:?}"),
    }
    server.stop().await;
}
