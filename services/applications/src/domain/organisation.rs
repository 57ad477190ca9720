//! Partner organisations: registered once.

use contracts::applications::v1 as pb;
use contracts::values::Country;

use super::{OrganisationId, Rejection, check_text};

#[derive(Clone, Debug)]
pub struct RegisterOrganisation {
    pub organisation_id: OrganisationId,
    pub legal_name: String,
    pub country: Country,
    pub organisation_type: pb::OrganisationType,
    pub registration_number: String,
    pub contact_person: pb::ContactPerson,
    /// Whether another organisation holds this registration number in this country (from the index).
    pub registration_number_taken: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OrganisationEvent {
    Registered(pb::OrganisationRegistered),
}

/// An organisation's state: `None` until registered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Organisation(pub Option<pb::OrganisationRegistered>);

pub fn handle(state: &Organisation, command: RegisterOrganisation) -> Result<Vec<OrganisationEvent>, Rejection> {
    if state.0.is_some() {
        return Err(Rejection::duplicate("organisation", command.organisation_id.to_string()));
    }
    check_text("legal_name", &command.legal_name, 1, 300)?;
    if command.organisation_type == pb::OrganisationType::Unspecified {
        return Err(Rejection::invalid("organisation_type", "is required"));
    }
    check_text("registration_number", &command.registration_number, 1, 100)?;
    let contact = &command.contact_person;
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
    check_text("contact_person.phone", &contact.phone, 0, 40)?;
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
        contact_person: Some(command.contact_person),
    })])
}

pub fn apply(_state: Organisation, event: &OrganisationEvent) -> Organisation {
    match event {
        OrganisationEvent::Registered(e) => Organisation(Some(e.clone())),
    }
}

#[cfg(test)]
mod tests {
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
            registration_number_taken: false,
        }
    }

    #[test]
    fn registers_once() {
        let events = handle(&Organisation::default(), command()).unwrap();
        let state = events.iter().fold(Organisation::default(), apply);
        assert_eq!(state.0.as_ref().unwrap().legal_name, "Migrant Forum Asia");
        assert!(matches!(handle(&state, command()), Err(Rejection::Duplicate { .. })));
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
}
