//! The keys of the read-model entries (see the table in [`super`]), and the award id the awards service
//! derives from an application id, which lets the queries join the two.

pub fn round_key(id: &str) -> String {
    format!("round/{id}")
}
pub fn org_key(id: &str) -> String {
    format!("org/{id}")
}
pub fn app_key(id: &str) -> String {
    format!("app/{id}")
}
pub fn award_key(id: &str) -> String {
    format!("award/{id}")
}
pub fn obl_key(award_id: &str) -> String {
    format!("obl/{award_id}")
}
pub(super) fn pending_key(report_id: &str) -> String {
    format!("pending/{report_id}")
}
pub fn ind_prefix(award_id: &str) -> String {
    format!("ind/{award_id}/")
}
pub fn checkpoint_key(source: &str) -> String {
    format!("cp/{source}")
}
/// Timeline entries of one grant part: `kind` is `app` (keyed by application id) or `award`.
pub fn timeline_prefix(kind: &str, id: &str) -> String {
    format!("tl/{kind}/{id}/")
}
pub(super) fn timeline_key(kind: &str, id: &str, source: &str, position: u64) -> String {
    format!("tl/{kind}/{id}/{source}/{position:020}")
}

/// The namespace of award ids (see `proto/grants/awards/v1/events.proto`).
const AWARD_NAMESPACE: uuid::Uuid = uuid::uuid!("b50490f9-bbab-5315-a862-39862181f947");

/// The award id the awards service gives the award of `application_id` (UUID v5 of its 16 bytes).
pub fn award_id_for(application_id: &str) -> Option<String> {
    let application = uuid::Uuid::try_parse(application_id).ok()?;
    Some(uuid::Uuid::new_v5(&AWARD_NAMESPACE, application.as_bytes()).to_string())
}
