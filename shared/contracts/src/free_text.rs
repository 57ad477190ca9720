//! Free text in the contracts (`proto/grants/common/v1/free_text.proto`): which fields hold it, which
//! subject (scope) an event's text is about, which events erase a scope's text, and moving the text out of
//! a message and back, all read from the contracts' own descriptors. A new free-text field is one
//! annotation in `proto/`; no code here or in the services names it.
//!
//! Pure: no keys and no IO. The services seal what [`FreeTextSchema::take`] takes out (see
//! `service_runtime::sealing`); `grants` uses the same schema to redact exports.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, Kind, MessageDescriptor, ReflectMessage, Value,
};
use uuid::Uuid;

/// What every reader shows in place of free text that was erased: sealed under a destroyed key, or
/// recorded in clear before sealing and redacted by an erasure.
pub const ERASED_TEXT: &str = "[erased]";

/// The field every event with free text has for its sealed text (a `SealedPersonalData` of a `FreeText`).
pub const SEALED_TEXT_FIELD: &str = "sealed_text";

/// Reads the reason of a safeguarding erasure: a code of the closed list, never unspecified.
pub fn erasure_reason(field: &str, value: i32) -> Result<crate::common::v1::ErasureReason, crate::values::WireError> {
    use crate::common::v1::ErasureReason;
    match ErasureReason::try_from(value) {
        Ok(ErasureReason::Unspecified) | Err(_) => Err(crate::values::WireError::new(
            field,
            "must be one of IDENTIFIES_PERSON_SERVED, IDENTIFIES_OTHER_PERSON, CONSENT_WITHDRAWN, \
             SAFEGUARDING_INCIDENT, LEGAL_ORDER",
        )),
        Ok(reason) => Ok(reason),
    }
}

/// A message's free text does not fit the contract's free-text rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreeTextError {
    #[error("`{message}` names `{field}` as its text scope, but has no such string field")]
    NoScopeField { message: String, field: String },
    #[error("`{message}`.`{field}` must hold the UUID of the subject its free text is about, it holds {value:?}")]
    BadScope { message: String, field: String, value: String },
}

/// The free-text annotations of the contracts, read once.
#[derive(Debug)]
pub struct FreeTextSchema {
    pool: DescriptorPool,
    free_text: ExtensionDescriptor,
    text_scope: ExtensionDescriptor,
    text_erasure: ExtensionDescriptor,
    /// Full names of the messages that hold free text, directly or in a nested message.
    carriers: HashSet<String>,
}

static CONTRACTS: LazyLock<FreeTextSchema> = LazyLock::new(|| {
    let pool = DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET)
        .unwrap_or_else(|e| panic!("the contracts' own descriptors do not decode: {e}"));
    FreeTextSchema::new(pool)
        .unwrap_or_else(|| panic!("the contracts do not define the free-text options of grants.common.v1"))
});

/// One free-text field reached while walking a message: a single string, or the elements of a repeated one.
enum Slot<'a> {
    One(&'a mut String),
    Many(&'a mut Vec<Value>),
}

impl FreeTextSchema {
    /// The schema of this crate's contracts.
    pub fn contracts() -> &'static FreeTextSchema {
        &CONTRACTS
    }

    /// The schema of the messages in `pool`, which must define the options of `free_text.proto`.
    pub fn new(pool: DescriptorPool) -> Option<FreeTextSchema> {
        let free_text = pool.get_extension_by_name("grants.common.v1.free_text")?;
        let text_scope = pool.get_extension_by_name("grants.common.v1.text_scope")?;
        let text_erasure = pool.get_extension_by_name("grants.common.v1.text_erasure")?;
        let mut schema = FreeTextSchema { pool, free_text, text_scope, text_erasure, carriers: HashSet::new() };
        // A message carries free text if one of its fields is marked or is a message that carries some;
        // repeated until nothing changes, which also ends on recursive messages.
        loop {
            let before = schema.carriers.len();
            let found: Vec<String> = schema
                .pool
                .all_messages()
                .filter(|m| !schema.carriers.contains(m.full_name()))
                .filter(|m| {
                    m.fields().any(|f| match f.kind() {
                        Kind::String => schema.is_free_text(&f),
                        Kind::Message(inner) => schema.carriers.contains(inner.full_name()),
                        _ => false,
                    })
                })
                .map(|m| m.full_name().to_owned())
                .collect();
            schema.carriers.extend(found);
            if schema.carriers.len() == before {
                break;
            }
        }
        Some(schema)
    }

    fn is_free_text(&self, field: &prost_reflect::FieldDescriptor) -> bool {
        field.options().get_extension(&self.free_text).as_bool() == Some(true)
    }

    /// The message called `full_name` (for example `grants.reporting.v1.ReportSubmitted`).
    pub fn message(&self, full_name: &str) -> Option<MessageDescriptor> {
        self.pool.get_message_by_name(full_name)
    }

    /// The response message of the RPC at `path` (`package.Service/Method`).
    pub fn response_of(&self, path: &str) -> Option<MessageDescriptor> {
        let (service, method) = path.trim_start_matches('/').split_once('/')?;
        let service = self.pool.get_service_by_name(service)?;
        let method = service.methods().find(|m| m.name() == method)?;
        Some(method.output())
    }

    /// Whether messages of this type can hold free text.
    pub fn carries_free_text(&self, message: &MessageDescriptor) -> bool {
        self.carriers.contains(message.full_name())
    }

    /// Whether this event type records the erasure of its scope's free text.
    pub fn is_erasure(&self, message: &MessageDescriptor) -> bool {
        message.options().get_extension(&self.text_erasure).as_bool() == Some(true)
    }

    /// The subject an event's free text is about (the UUID in the field its `text_scope` option names), or
    /// `None` for a message without the option.
    pub fn scope(&self, message: &DynamicMessage) -> Result<Option<Uuid>, FreeTextError> {
        let descriptor = message.descriptor();
        let options = descriptor.options();
        let Some(field_name) = options.get_extension(&self.text_scope).as_str().map(str::to_owned) else {
            return Ok(None);
        };
        if field_name.is_empty() {
            return Ok(None);
        }
        let value = message.get_field_by_name(&field_name).ok_or_else(|| FreeTextError::NoScopeField {
            message: descriptor.full_name().to_owned(),
            field: field_name.clone(),
        })?;
        let text = value.as_str().unwrap_or_default();
        Uuid::try_parse(text).map(Some).map_err(|_| FreeTextError::BadScope {
            message: descriptor.full_name().to_owned(),
            field: field_name,
            value: text.to_owned(),
        })
    }

    /// Takes the text out of every free-text field of `message` (nested and repeated ones included),
    /// leaving them empty; returns `(path, text)` for each non-empty one, in declaration order.
    pub fn take(&self, message: &mut DynamicMessage) -> Vec<(String, String)> {
        let mut taken = Vec::new();
        self.each_slot(message, "", &mut |path, slot| match slot {
            Slot::One(text) if !text.is_empty() => taken.push((path.to_owned(), std::mem::take(text))),
            Slot::One(_) => {}
            Slot::Many(items) => {
                for (i, item) in items.drain(..).enumerate() {
                    if let Value::String(text) = item {
                        taken.push((format!("{path}[{i}]"), text));
                    }
                }
            }
        });
        taken
    }

    /// Puts texts taken by [`Self::take`] back where their paths say.
    pub fn put(&self, message: &mut DynamicMessage, texts: &HashMap<String, String>) {
        self.each_slot(message, "", &mut |path, slot| match slot {
            Slot::One(text) => {
                if let Some(found) = texts.get(path) {
                    found.clone_into(text);
                }
            }
            Slot::Many(items) => {
                items.clear();
                for i in 0.. {
                    match texts.get(&format!("{path}[{i}]")) {
                        Some(found) => items.push(Value::String(found.clone())),
                        None => break,
                    }
                }
            }
        });
    }

    /// Shows `message`'s free text as erased: every free-text field that holds text becomes
    /// [`ERASED_TEXT`]; with `also_empty`, so do the empty ones (for text sealed under a destroyed key,
    /// whose fields were emptied when it was sealed and cannot be told apart any more).
    pub fn mark_erased(&self, message: &mut DynamicMessage, also_empty: bool) {
        self.each_slot(message, "", &mut |_, slot| match slot {
            Slot::One(text) if also_empty || !text.is_empty() => ERASED_TEXT.clone_into(text),
            Slot::One(_) => {}
            Slot::Many(items) if items.is_empty() && also_empty => items.push(Value::String(ERASED_TEXT.into())),
            Slot::Many(items) => items.iter_mut().for_each(|item| *item = Value::String(ERASED_TEXT.into())),
        });
    }

    /// Calls `visit` with every free-text field of `message` and its path; nested messages are entered only
    /// where they are set, so walking never adds a field to the message.
    fn each_slot(&self, message: &mut DynamicMessage, prefix: &str, visit: &mut dyn FnMut(&str, Slot<'_>)) {
        let descriptor = message.descriptor();
        if !self.carries_free_text(&descriptor) {
            return;
        }
        for field in descriptor.fields() {
            let path = if prefix.is_empty() { field.name().to_owned() } else { format!("{prefix}.{}", field.name()) };
            match field.kind() {
                Kind::String if self.is_free_text(&field) => match message.get_field_mut(&field) {
                    Value::String(text) => visit(&path, Slot::One(text)),
                    Value::List(items) => visit(&path, Slot::Many(items)),
                    _ => {}
                },
                Kind::Message(inner) if self.carriers.contains(inner.full_name()) && message.has_field(&field) => {
                    match message.get_field_mut(&field) {
                        Value::Message(nested) => self.each_slot(nested, &path, visit),
                        Value::List(items) => {
                            for (i, item) in items.iter_mut().enumerate() {
                                if let Value::Message(nested) = item {
                                    self.each_slot(nested, &format!("{path}[{i}]"), visit);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::reporting::v1 as rp;

    fn submitted() -> rp::ReportSubmitted {
        let line = |id: &str, explanation: &str| rp::LineExpenditure {
            line_id: id.into(),
            explanation: explanation.into(),
            ..Default::default()
        };
        rp::ReportSubmitted {
            report_id: "6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab".into(),
            progress: Some(rp::ProgressContent {
                narrative: "Forty survivors were sheltered.".into(),
                indicators: vec![],
            }),
            financial: Some(rp::FinancialContent {
                lines: vec![line("shelter", "Rent rose"), line("legal", ""), line("travel", "Fewer trips")],
            }),
            ..Default::default()
        }
    }

    fn dynamic(event: &impl Message, name: &str) -> DynamicMessage {
        let schema = FreeTextSchema::contracts();
        DynamicMessage::decode(schema.message(name).unwrap(), event.encode_to_vec().as_slice()).unwrap()
    }

    #[test]
    fn free_text_is_found_by_its_annotations_taken_out_and_put_back() {
        let schema = FreeTextSchema::contracts();
        let mut message = dynamic(&submitted(), "grants.reporting.v1.ReportSubmitted");
        assert_eq!(
            schema.scope(&message).unwrap(),
            Some(Uuid::try_parse("6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab").unwrap())
        );
        let taken = schema.take(&mut message);
        let paths: Vec<&str> = taken.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["progress.narrative", "financial.lines[0].explanation", "financial.lines[2].explanation"]);
        let emptied = rp::ReportSubmitted::decode(message.encode_to_vec().as_slice()).unwrap();
        assert_eq!(emptied.progress.as_ref().unwrap().narrative, "");
        assert_eq!(emptied.financial.as_ref().unwrap().lines.len(), 3, "the lines and their amounts stay");
        assert!(emptied.financial.as_ref().unwrap().lines.iter().all(|l| l.explanation.is_empty()));

        schema.put(&mut message, &taken.into_iter().collect());
        assert_eq!(rp::ReportSubmitted::decode(message.encode_to_vec().as_slice()).unwrap(), submitted());
    }

    #[test]
    fn repeated_free_text_keeps_its_order_and_erased_text_shows_as_erased() {
        let schema = FreeTextSchema::contracts();
        let reasons = vec!["Counts do not add up".to_owned(), "Narrative too short".to_owned()];
        let requested = rp::RevisionRequested {
            report_id: "6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab".into(),
            reasons: reasons.clone(),
            requested_by: "officer-1".into(),
            ..Default::default()
        };
        let mut message = dynamic(&requested, "grants.reporting.v1.RevisionRequested");
        let taken = schema.take(&mut message);
        assert_eq!(
            taken,
            [("reasons[0]".to_owned(), reasons[0].clone()), ("reasons[1]".to_owned(), reasons[1].clone())]
        );
        schema.put(&mut message, &taken.iter().cloned().collect());
        assert_eq!(rp::RevisionRequested::decode(message.encode_to_vec().as_slice()).unwrap(), requested);

        // Redaction of text recorded in clear: only what holds text changes.
        let mut clear = dynamic(&submitted(), "grants.reporting.v1.ReportSubmitted");
        schema.mark_erased(&mut clear, false);
        let shown = rp::ReportSubmitted::decode(clear.encode_to_vec().as_slice()).unwrap();
        assert_eq!(shown.progress.unwrap().narrative, ERASED_TEXT);
        let explanations: Vec<String> = shown.financial.unwrap().lines.into_iter().map(|l| l.explanation).collect();
        assert_eq!(explanations, [ERASED_TEXT, "", ERASED_TEXT]);
        // Sealed text whose key is gone: every free-text field shows as erased.
        let mut sealed = dynamic(&requested, "grants.reporting.v1.RevisionRequested");
        schema.take(&mut sealed);
        schema.mark_erased(&mut sealed, true);
        assert_eq!(rp::RevisionRequested::decode(sealed.encode_to_vec().as_slice()).unwrap().reasons, [ERASED_TEXT]);
    }

    #[test]
    fn erasures_and_messages_without_free_text_are_told_apart() {
        let schema = FreeTextSchema::contracts();
        let erased = schema.message("grants.reporting.v1.ReportTextErased").unwrap();
        assert!(schema.is_erasure(&erased));
        assert!(!schema.is_erasure(&schema.message("grants.reporting.v1.ReportSubmitted").unwrap()));
        let accepted = schema.message("grants.reporting.v1.ReportAccepted").unwrap();
        assert!(!schema.carries_free_text(&accepted));
        let mut message = dynamic(&rp::ReportAccepted::default(), "grants.reporting.v1.ReportAccepted");
        assert!(schema.take(&mut message).is_empty());
        assert_eq!(schema.scope(&message).unwrap(), None);
        // A scope field that holds no UUID is a broken event, said so.
        let broken = dynamic(
            &rp::ReportSubmitted { report_id: "r-1".into(), ..submitted() },
            "grants.reporting.v1.ReportSubmitted",
        );
        assert!(matches!(schema.scope(&broken), Err(FreeTextError::BadScope { .. })));
    }

    #[test]
    fn every_event_with_free_text_names_its_scope_and_has_a_sealed_text_field() {
        let schema = FreeTextSchema::contracts();
        let mut checked = 0;
        for message in schema.pool.all_messages() {
            let is_event = message.parent_file().name().ends_with("events.proto");
            if !is_event || !schema.carries_free_text(&message) {
                continue;
            }
            checked += 1;
            let options = message.options();
            let scope = options.get_extension(&schema.text_scope);
            let scope = scope.as_str().unwrap_or_default();
            assert!(!scope.is_empty(), "{} holds free text but names no text_scope", message.full_name());
            assert!(message.get_field_by_name(scope).is_some(), "{}: no field {scope}", message.full_name());
            let sealed = message.get_field_by_name(SEALED_TEXT_FIELD);
            assert!(
                sealed.is_some_and(
                    |f| matches!(f.kind(), Kind::Message(m) if m.full_name() == "grants.common.v1.SealedPersonalData")
                ),
                "{} holds free text but has no `sealed_text`",
                message.full_name()
            );
        }
        assert!(checked >= 20, "only {checked} events with free text: are the annotations read?");
    }
}
