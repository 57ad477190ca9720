//! Crypto-shredding of contact persons: their personal data never enters the log in clear, and erasing it
//! destroys its key while the log stays intact and verifiable.

mod common;

use contracts::applications::v1 as pb;
use domain_kernel::Role;
use event_log::EventLog;
use test_support::disk::{contains, files_containing};
use test_support::{authed, request_id, token};
use tonic::Code;

const NAME: &str = "Dara Sok";
const EMAIL: &str = "dara.sok@example.org";

#[tokio::test]
async fn contact_persons_are_sealed_in_the_log_and_erased_by_destroying_their_key() {
    let server = common::start().await;
    let mut api = server.client(pb::ApplicationsServiceClient::new).await;
    let admin = token(Role::Administrator, "admin-1", None);
    let organisation_id = uuid::Uuid::new_v4().to_string();
    let partner = token(Role::Partner, "partner-1", Some(&organisation_id));
    let register = pb::RegisterOrganisationRequest {
        request_id: request_id(),
        organisation_id: organisation_id.clone(),
        legal_name: "Lao Women's Shelter Network".into(),
        country: "LA".into(),
        organisation_type: pb::OrganisationType::Network as i32,
        registration_number: "LA-0042".into(),
        contact_person: Some(pb::ContactPerson {
            full_name: NAME.into(),
            email: EMAIL.into(),
            phone: "+856 20 5555 1234".into(),
        }),
    };
    let registered = api.register_organisation(authed(register, &admin)).await.unwrap().into_inner();
    let registered = registered.organisation.unwrap();
    assert!(
        registered.contact_person.is_none() && !registered.contact_person_erased,
        "responses carry no personal data"
    );

    let get = || pb::GetOrganisationRequest { organisation_id: organisation_id.clone() };
    let seen = api.get_organisation(authed(get(), &partner)).await.unwrap().into_inner().organisation.unwrap();
    assert_eq!(seen.contact_person.unwrap().full_name, NAME);
    assert!(!seen.contact_person_erased);

    let erase = |reason: &str| pb::EraseContactPersonRequest {
        request_id: request_id(),
        organisation_id: organisation_id.clone(),
        reason: reason.into(),
    };
    let refused = api.erase_contact_person(authed(erase("asked"), &partner)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let refused = api.erase_contact_person(authed(erase(""), &admin)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("reason"), "{}", refused.message());
    let unknown = pb::EraseContactPersonRequest { organisation_id: uuid::Uuid::new_v4().to_string(), ..erase("asked") };
    assert_eq!(api.erase_contact_person(authed(unknown, &admin)).await.unwrap_err().code(), Code::NotFound);
    let still = api.get_organisation(authed(get(), &admin)).await.unwrap().into_inner().organisation.unwrap();
    assert_eq!(still.contact_person.unwrap().email, EMAIL, "refused erasures destroy nothing");

    let request = erase("erasure requested by the data subject");
    let erased = api.erase_contact_person(authed(request.clone(), &admin)).await.unwrap().into_inner();
    let view = erased.organisation.clone().unwrap();
    assert!(view.contact_person_erased && view.contact_person.is_none());
    assert_eq!(view.version, 2);
    let retried = api.erase_contact_person(authed(request, &admin)).await.unwrap().into_inner();
    assert_eq!(retried, erased, "a retry returns the first result");
    let again = api.erase_contact_person(authed(erase("again"), &admin)).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    let dir = server.stop().await;
    let data_dir = dir.path().join("applications");
    // Nothing in the whole database (events, indexes, stored responses) holds the contact in clear.
    let raw = event_log::open_sled_when_unlocked(applications::service::log_dir(&data_dir)).unwrap();
    for tree in raw.tree_names() {
        for entry in raw.open_tree(tree).unwrap().iter() {
            let (_, value) = entry.unwrap();
            for clear in [NAME, EMAIL, "5555 1234"] {
                assert!(!contains(&value, clear), "{clear:?} stored in clear");
            }
        }
    }
    drop(raw);
    // Nor any file of the stopped service: the log's files, the key vault.
    let found = files_containing(&data_dir, &[NAME, EMAIL, "5555 1234"]);
    assert!(found.is_empty(), "stored in clear: {found:?}");
    let log = EventLog::open(applications::service::log_dir(&data_dir)).unwrap();
    let events: Vec<_> = log.read_all(0).map(|e| e.unwrap()).collect();
    let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["OrganisationRegistered", "ContactPersonErased"]);
    // The contact person's key is gone; what is left is the key the erasure's own reason is sealed under.
    let key_of = |event: &event_log::RecordedEvent, sealed: fn(&[u8]) -> String| {
        data_dir.join("personal-data-keys").join(format!("{}.key", sealed(&event.payload)))
    };
    use prost::Message;
    let contact_key = key_of(&events[0], |payload| {
        pb::OrganisationRegistered::decode(payload).unwrap().sealed_contact_person.unwrap().key_id
    });
    let reason_key =
        key_of(&events[1], |payload| pb::ContactPersonErased::decode(payload).unwrap().sealed_text.unwrap().key_id);
    assert!(!contact_key.exists(), "the contact person's key was destroyed");
    assert!(reason_key.exists(), "the erasure's reason is sealed, under a key of its own");
    let keys: Vec<_> = std::fs::read_dir(data_dir.join("personal-data-keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "key"))
        .collect();
    assert_eq!(keys, [reason_key], "no other key is left");
    for event in &events {
        for clear in [NAME, EMAIL, "5555 1234"] {
            assert!(!contains(event.record_bytes(), clear), "{clear:?} in clear in {}", event.event_type);
        }
    }
    assert!(log.verify(..).unwrap().is_intact(), "erasure does not touch the log");
    drop(log);

    let server = common::start_with(dir, None).await;
    let mut api = server.client(pb::ApplicationsServiceClient::new).await;
    let after = api.get_organisation(authed(get(), &admin)).await.unwrap().into_inner().organisation.unwrap();
    assert!(after.contact_person_erased && after.contact_person.is_none(), "erased for good, across restarts");
    server.stop().await;
}
