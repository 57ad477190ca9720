//! An award offer in the service's own log whose ids do not read is corrupt data: the listing index refuses
//! it, naming what it was doing, instead of leaving the award out of every listing.

mod common;

use contracts::awards::v1::AwardOffered;
use contracts::events::EventMessage;
use contracts::names::stream;
use event_log::{EventLog, StreamId};
use prost::Message;

#[tokio::test]
async fn an_offer_whose_organisation_does_not_read_fails_the_listing_index() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join("log")).unwrap();
    let award_id = uuid::Uuid::new_v4().to_string();
    let offered = AwardOffered {
        award_id: award_id.clone(),
        organisation_id: "not-an-organisation".into(),
        round_id: uuid::Uuid::new_v4().to_string(),
        ..AwardOffered::default()
    };
    let stream = StreamId::new(stream::AWARD, &award_id).unwrap();
    common::append(&log, stream, AwardOffered::EVENT_TYPE, offered.encode_to_vec()).await;

    let error = awards::index::Index::build(&log).expect_err("a corrupt offer must not be left out silently");
    let shown = service_runtime::errors::ErrorChain(&error).to_string();
    assert!(shown.contains("a recorded award offer does not read"), "{shown}");
    assert!(shown.contains("organisation_id"), "{shown}");
}
