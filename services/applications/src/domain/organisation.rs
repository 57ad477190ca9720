//! Partner organisations: registered once; their contact person's personal data recorded sealed and erasable.

use contracts::applications::v1 as pb;
use contracts::common::v1::SealedPersonalData;
use contracts::values::WireError;
use domain_kernel::{Country, parse_uuid};
use uuid::Uuid;

use super::{OrganisationId, Rejection, check_text};

#[derive(Clone, Debug)]
pub struct RegisterOrganisation {
    pub organisation_id: OrganisationId,
    pub legal_name: String,
    pub country: Country,
    pub organisation_type: pb::OrganisationType,
    pub registration_number: String,
    /// The plaintext, to check; only `sealed_contact_person` is recorded.
    pub contact_person: pb::ContactPerson,
    /// The same contact person, encrypted under a key of its own.
    pub sealed_contact_person: SealedContact,
    /// Whether another organisation holds this registration number in this country (from the index).
    pub registration_number_taken: bool,
}

/// Erase the contact person's personal data (its key is destroyed by the caller).
#[derive(Clone, Debug)]
pub struct EraseContactPerson {
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OrganisationEvent {
    Registered(pb::OrganisationRegistered),
    ContactPersonErased(pb::ContactPersonErased),
}

/// A contact person as recorded: encrypted under a key of its own, which only the service's key vault holds,
/// so that destroying the key erases every copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedContact {
    pub key_id: Uuid,
    pub nonce: Vec<u8>,
    /// The ciphertext with its authentication tag.
    pub ciphertext: Vec<u8>,
}

impl SealedContact {
    /// Reads the recorded form; the key id has the one UUID spelling, so it is written back unchanged.
    fn from_wire(field: &str, sealed: &SealedPersonalData) -> Result<SealedContact, WireError> {
        Ok(SealedContact {
            key_id: parse_uuid(&format!("{field}.key_id"), &sealed.key_id)?,
            nonce: sealed.nonce.clone(),
            ciphertext: sealed.ciphertext.clone(),
        })
    }

    fn to_wire(&self) -> SealedPersonalData {
        SealedPersonalData {
            key_id: self.key_id.to_string(),
            nonce: self.nonce.clone(),
            ciphertext: self.ciphertext.clone(),
        }
    }
}

/// What a registration recorded about an organisation.
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    pub organisation_id: OrganisationId,
    pub legal_name: String,
    pub country: Country,
    pub organisation_type: pb::OrganisationType,
    pub registration_number: String,
    /// The contact person as recorded: sealed, readable only while its key exists.
    pub sealed_contact_person: Option<SealedContact>,
}

impl Registration {
    fn from_wire(e: &pb::OrganisationRegistered) -> Result<Registration, WireError> {
        let organisation_type = match pb::OrganisationType::try_from(e.organisation_type) {
            Ok(pb::OrganisationType::Unspecified) | Err(_) => {
                return Err(WireError::new("organisation_type", "must be a known organisation type"));
            }
            Ok(organisation_type) => organisation_type,
        };
        Ok(Registration {
            organisation_id: OrganisationId::parse("organisation_id", &e.organisation_id)?,
            legal_name: e.legal_name.clone(),
            country: Country::parse("country", &e.country)?,
            organisation_type,
            registration_number: e.registration_number.clone(),
            sealed_contact_person: e
                .sealed_contact_person
                .as_ref()
                .map(|sealed| SealedContact::from_wire("sealed_contact_person", sealed))
                .transpose()?,
        })
    }
}

/// An organisation's state: `registered` is `None` until it is registered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Organisation {
    pub registered: Option<Registration>,
    pub contact_person_erased: bool,
}

/// The rules for a contact person, checked before anything is sealed.
pub fn check_contact_person(contact: &pb::ContactPerson) -> Result<(), Rejection> {
    check_text("contact_person.full_name", &contact.full_name, 1, 200)?;
    check_text("contact_person.email", &contact.email, 3, 254)?;
    match contact.email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => {}
        _ => {
            return Err(Rejection::invalid(
                "contact_person.email",
                "must be an e-mail address (one '@' with text on both sides)",
            ));
        }
    }
    check_text("contact_person.phone", &contact.phone, 0, 40)
}

pub fn handle(state: &Organisation, command: RegisterOrganisation) -> Result<Vec<OrganisationEvent>, Rejection> {
    if state.registered.is_some() {
        return Err(Rejection::duplicate("organisation", command.organisation_id.to_string()));
    }
    check_text("legal_name", &command.legal_name, 1, 300)?;
    if command.organisation_type == pb::OrganisationType::Unspecified {
        return Err(Rejection::invalid("organisation_type", "is required"));
    }
    check_text("registration_number", &command.registration_number, 1, 100)?;
    check_contact_person(&command.contact_person)?;
    if command.registration_number_taken {
        return Err(Rejection::duplicate(
            "organisation",
            format!("registration number {} is registered in {} already", command.registration_number, command.country),
        ));
    }
    Ok(vec![OrganisationEvent::Registered(pb::OrganisationRegistered {
        organisation_id: command.organisation_id.to_string(),
        legal_name: command.legal_name,
        country: command.country.as_str().to_owned(),
        organisation_type: command.organisation_type as i32,
        registration_number: command.registration_number,
        sealed_contact_person: Some(command.sealed_contact_person.to_wire()),
    })])
}

pub fn handle_erase(state: &Organisation, command: EraseContactPerson) -> Result<Vec<OrganisationEvent>, Rejection> {
    let Some(registered) = &state.registered else {
        return Err(Rejection::invalid("organisation_id", "names no registered organisation"));
    };
    if state.contact_person_erased {
        return Err(Rejection::precondition("contact_person", "was erased already"));
    }
    check_text("reason", &command.reason, 1, 500)?;
    Ok(vec![OrganisationEvent::ContactPersonErased(pb::ContactPersonErased {
        organisation_id: registered.organisation_id.to_string(),
        key_id: registered.sealed_contact_person.as_ref().map(|s| s.key_id.to_string()).unwrap_or_default(),
        reason: command.reason,
        sealed_text: None,
    })])
}

/// Folds an event into the organisation; a registration whose values do not read is an error naming the value.
pub fn apply(state: Organisation, event: &OrganisationEvent) -> Result<Organisation, WireError> {
    Ok(match event {
        OrganisationEvent::Registered(e) => Organisation { registered: Some(Registration::from_wire(e)?), ..state },
        OrganisationEvent::ContactPersonErased(_) => Organisation { contact_person_erased: true, ..state },
    })
}

#[cfg(test)]
mod tests {
    use test_support::decider::{given, given_state};

    use super::*;

    fn command() -> RegisterOrganisation {
        RegisterOrganisation {
            organisation_id: OrganisationId(uuid::Uuid::from_u128(7)),
            legal_name: "Migrant Forum Asia".into(),
            country: Country::parse("c", "PH").unwrap(),
            organisation_type: pb::OrganisationType::Network,
            registration_number: "PH-123".into(),
            contact_person: pb::ContactPerson {
                full_name: "A. Contact".into(),
                email: "contact@example.org".into(),
                phone: String::new(),
            },
            sealed_contact_person: SealedContact {
                key_id: Uuid::from_u128(9),
                nonce: vec![1; 24],
                ciphertext: vec![2; 40],
            },
            registration_number_taken: false,
        }
    }

    #[test]
    fn registers_once() {
        let state = given([]).when(|none| handle(none, command())).then_accept().0;
        assert_eq!(state.registered.as_ref().unwrap().legal_name, "Migrant Forum Asia");
        assert!(matches!(handle(&state, command()), Err(Rejection::Duplicate { .. })));
    }

    #[test]
    fn the_contact_person_is_recorded_sealed_only() {
        let events = handle(&Organisation::default(), command()).unwrap();
        let OrganisationEvent::Registered(registered) = &events[0] else { panic!("{events:?}") };
        let recorded = prost::Message::encode_to_vec(registered);
        for clear in [b"A. Contact".as_slice(), b"contact@example.org"] {
            assert!(!recorded.windows(clear.len()).any(|w| w == clear), "plaintext contact data in the event");
        }
        assert_eq!(registered.sealed_contact_person, Some(command().sealed_contact_person.to_wire()));
    }

    #[test]
    fn erasure_is_recorded_once_with_its_key_and_reason() {
        let erase = || EraseContactPerson { reason: "erasure requested by the data subject".into() };
        assert!(matches!(
            handle_erase(&Organisation::default(), erase()),
            Err(Rejection::Invalid { field, .. }) if field == "organisation_id"
        ));
        let registered = given([]).when(|none| handle(none, command())).then_accept().0;
        assert!(matches!(
            handle_erase(&registered, EraseContactPerson { reason: String::new() }),
            Err(Rejection::Invalid { field, .. }) if field == "reason"
        ));
        let (state, events) =
            given_state(registered).when(|registered| handle_erase(registered, erase())).then_accept();
        let OrganisationEvent::ContactPersonErased(erased) = &events[0] else { panic!("{events:?}") };
        assert_eq!(erased.key_id, uuid::Uuid::from_u128(9).to_string());
        assert!(state.contact_person_erased);
        assert!(matches!(handle_erase(&state, erase()), Err(Rejection::Precondition { .. })));
    }

    #[test]
    fn every_registration_rule_rejects_and_records_nothing() {
        type Change = fn(&mut RegisterOrganisation);
        let cases: [(Change, &str); 6] = [
            (|c| c.legal_name.clear(), "legal_name"),
            (|c| c.organisation_type = pb::OrganisationType::Unspecified, "organisation_type"),
            (|c| c.registration_number.clear(), "registration_number"),
            (|c| c.contact_person.full_name.clear(), "contact_person.full_name"),
            (|c| c.contact_person.email = "no-at-sign".into(), "contact_person.email"),
            (|c| c.contact_person.phone = "1".repeat(41), "contact_person.phone"),
        ];
        for (change, field) in cases {
            let mut c = command();
            change(&mut c);
            match handle(&Organisation::default(), c) {
                Err(Rejection::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected invalid {field}, got {other:?}"),
            }
        }
        let taken = RegisterOrganisation { registration_number_taken: true, ..command() };
        assert!(matches!(handle(&Organisation::default(), taken), Err(Rejection::Duplicate { .. })));
    }

    #[test]
    fn a_registration_whose_values_do_not_read_is_a_fold_error_naming_the_value() {
        let (_, events) = given([]).when(|none| handle(none, command())).then_accept();
        let OrganisationEvent::Registered(registered) = &events[0] else { panic!("{events:?}") };
        let untyped = pb::OrganisationRegistered { organisation_type: 0, ..registered.clone() };
        let error = apply(Organisation::default(), &OrganisationEvent::Registered(untyped)).unwrap_err();
        assert_eq!(error.field, "organisation_type");
        for key_id in ["", "not-a-uuid", "00000000-0000-0000-0000-00000000000A"] {
            let mut unkeyed = registered.clone();
            unkeyed.sealed_contact_person.as_mut().unwrap().key_id = key_id.into();
            let error = apply(Organisation::default(), &OrganisationEvent::Registered(unkeyed)).unwrap_err();
            assert_eq!(error.field, "sealed_contact_person.key_id", "{key_id:?}");
        }
    }

    #[test]
    fn the_sealed_contact_person_is_read_into_state_and_recorded_as_it_was_sealed() {
        let (state, events) = given([]).when(|none| handle(none, command())).then_accept();
        let OrganisationEvent::Registered(registered) = &events[0] else { panic!("{events:?}") };
        let recorded = registered.sealed_contact_person.as_ref().unwrap();
        assert_eq!(recorded.key_id, "00000000-0000-0000-0000-000000000009");
        assert_eq!(
            (recorded.nonce.as_slice(), recorded.ciphertext.as_slice()),
            ([1; 24].as_slice(), [2; 40].as_slice())
        );
        let kept = state.registered.unwrap().sealed_contact_person;
        assert_eq!(kept, Some(command().sealed_contact_person));
        let unsealed = pb::OrganisationRegistered { sealed_contact_person: None, ..registered.clone() };
        let state = apply(Organisation::default(), &OrganisationEvent::Registered(unsealed)).unwrap();
        assert_eq!(state.registered.unwrap().sealed_contact_person, None);
    }
}
