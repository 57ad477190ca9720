#!/usr/bin/env python3
"""Validates the platform's open-data files against the official schemas and codelists.

    validate.py --standards tests/standards --codelists DIR_OR_SDIST [--iati FILE] [--360giving FILE]

- IATI: the file against the IATI 2.03 activity XSD (`iati-2.03/iati-activities-schema.xsd`, lxml), then
  every coded attribute the platform writes against the IATI 2.03 codelist it names, read from the codelist
  files the IATI Secretariat released for 2.03 (the `pyIATI` 0.4.1 source archive, or a folder of its
  `codelists/*.xml`).
- 360Giving: the file against the 360Giving 1.4.3 package schema (`360giving/360-giving-package-schema.json`,
  JSON Schema 2020-12 with formats checked), whose `grants` items refer to the grant schema by its published
  address; that address (and the 1.4.2 one the package schema names) is resolved to the vendored grant schema,
  never fetched.

Prints one JSON object (what was checked, and every error) and exits 1 when anything is invalid.
"""

import argparse
import json
import sys
import tarfile
from pathlib import Path

# (XPath of the coded attribute, codelist) for every code the platform writes. Sector codes are checked
# against the DAC 5-digit list only where the vocabulary is 1 (OECD DAC CRS purpose codes).
CODED_ATTRIBUTES = [
    ("//reporting-org/@type", "OrganisationType"),
    ("//participating-org/@role", "OrganisationRole"),
    ("//participating-org/@type", "OrganisationType"),
    ("//activity-status/@code", "ActivityStatus"),
    ("//activity-date/@type", "ActivityDateType"),
    ("//activity-scope/@code", "ActivityScope"),
    ("//description/@type", "DescriptionType"),
    ("//recipient-country/@code", "Country"),
    ("//sector/@vocabulary", "SectorVocabulary"),
    ("//sector[@vocabulary='1']/@code", "Sector"),
    ("//budget/@type", "BudgetType"),
    ("//budget/@status", "BudgetStatus"),
    ("//transaction-type/@code", "TransactionType"),
    ("//related-activity/@type", "RelatedActivityType"),
    ("//result/@type", "ResultType"),
    ("//indicator/@measure", "IndicatorMeasure"),
    ("//@default-currency", "Currency"),
    ("//@currency", "Currency"),
    ("//default-flow-type/@code", "FlowType"),
    ("//default-finance-type/@code", "FinanceType"),
    ("//default-aid-type/@code", "AidType"),
    ("//default-tied-status/@code", "TiedStatus"),
    ("//collaboration-type/@code", "CollaborationType"),
]

CODELIST_PATH = "iati/resources/standard/2-03/codelists/"


def codelists(source: Path) -> dict:
    """Every codelist's codes by name, from the pyIATI source archive or a folder of codelist files."""
    from lxml import etree

    files = {}
    if source.is_dir():
        for path in source.glob("*.xml"):
            files[path.stem] = path.read_bytes()
    else:
        with tarfile.open(source) as archive:
            for member in archive.getmembers():
                if CODELIST_PATH in member.name and member.name.endswith(".xml"):
                    files[Path(member.name).stem] = archive.extractfile(member).read()
    if not files:
        raise SystemExit(f"no IATI codelists in {source}")
    return {name: set(etree.fromstring(data).xpath("//codelist-item/code/text()")) for name, data in files.items()}


def validate_iati(path: Path, standards: Path, lists: dict) -> dict:
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(standards / "iati-2.03" / "iati-activities-schema.xsd")))
    document = etree.parse(str(path))
    errors = [f"line {e.line}: {e.message}" for e in schema.error_log] if not schema.validate(document) else []
    checked = 0
    for xpath, codelist in CODED_ATTRIBUTES:
        allowed = lists[codelist]
        for value in document.xpath(xpath):
            checked += 1
            if str(value) not in allowed:
                owner = value.getparent()
                errors.append(f"line {owner.sourceline}: {owner.tag}/@{value.attrname} = {value!s} is not in {codelist}")
    activities = document.xpath("//iati-activity")
    rules = iati_rules(document)
    return {
        "file": str(path),
        "activities": len(activities),
        "codes_checked": checked,
        "rules_checked": rules["checked"],
        "errors": errors + rules["errors"],
    }


def iati_rules(document) -> dict:
    """The IATI rules the XSD does not express, as the platform's files must keep them:

    1. every activity's identifier is unique and starts with its reporting organisation's identifier;
    2. transactions and results belong to existing activities: every provider-activity-id and
       receiver-activity-id names an activity of the file, and the receiver's is the activity itself;
    3. related-activity refs resolve, and both ways: a parent (type 1) lists the child (type 2) back;
    4. budgets of one activity and type do not overlap, span at most a year (period-start <= period-end)
       and lie within the activity's planned dates;
    5. every value has a currency, or its activity a default-currency;
    6. disbursements never exceed what is committed (a payment in another currency counts at the amount
       in the activity's currency that its description states);
    7. sector percentages of one vocabulary, and recipient-country percentages, sum to 100.
    """
    from datetime import date
    import re

    errors, checked = [], 0
    activities = document.xpath("//iati-activity")
    ids = [a.findtext("iati-identifier") for a in activities]
    known = set(ids)
    by_id = dict(zip(ids, activities))

    def fail(activity, rule, message):
        errors.append(f"{activity.findtext('iati-identifier')}: rule {rule}: {message}")

    for identifier in {i for i in ids if ids.count(i) > 1}:
        errors.append(f"{identifier}: rule 1: the identifier is used by {ids.count(identifier)} activities")
    for activity in activities:
        identifier = activity.findtext("iati-identifier")
        reporting = activity.find("reporting-org").get("ref")
        checked += 1
        if not identifier.startswith(reporting + "-"):
            fail(activity, 1, f"does not start with the reporting-org ref {reporting}")

        for transaction in activity.findall("transaction"):
            checked += 1
            for side, attribute in (("provider-org", "provider-activity-id"), ("receiver-org", "receiver-activity-id")):
                ref = transaction.find(side).get(attribute) if transaction.find(side) is not None else None
                if ref is not None and ref not in known:
                    fail(activity, 2, f"transaction {transaction.get('ref')}: {attribute} {ref} is no activity")
            receiver = transaction.find("receiver-org")
            if receiver is not None and receiver.get("receiver-activity-id") not in (None, identifier):
                fail(activity, 2, f"transaction {transaction.get('ref')} is received by another activity")

        for related in activity.findall("related-activity"):
            checked += 1
            ref, kind = related.get("ref"), related.get("type")
            other = by_id.get(ref)
            if other is None:
                fail(activity, 3, f"related-activity {ref} is no activity of the file")
                continue
            back = {"1": "2", "2": "1"}.get(kind)
            if back and not any(r.get("ref") == identifier and r.get("type") == back for r in other.findall("related-activity")):
                fail(activity, 3, f"{ref} does not name this activity back as type {back}")

        dates = {d.get("type"): date.fromisoformat(d.get("iso-date")) for d in activity.findall("activity-date")}
        start, end = dates.get("1") or dates.get("2"), dates.get("3") or dates.get("4")
        budgets = []
        for budget in activity.findall("budget"):
            checked += 1
            begins = date.fromisoformat(budget.find("period-start").get("iso-date"))
            ends = date.fromisoformat(budget.find("period-end").get("iso-date"))
            if ends < begins or (ends - begins).days > 366:
                fail(activity, 4, f"budget {begins}..{ends} is not a period of at most a year")
            if start is None or end is None or begins < start or ends > end:
                fail(activity, 4, f"budget {begins}..{ends} lies outside the activity's dates {start}..{end}")
            for (other_type, b, e) in budgets:
                if other_type == budget.get("type", "1") and begins <= e and b <= ends:
                    fail(activity, 4, f"budgets {b}..{e} and {begins}..{ends} overlap")
            budgets.append((budget.get("type", "1"), begins, ends))

        default_currency = activity.get("default-currency")
        for value in activity.iter("value"):
            checked += 1
            if not value.get("currency") and not default_currency:
                fail(activity, 5, f"a value of {value.getparent().tag} has no currency and there is no default-currency")

        committed = disbursed = 0.0
        for transaction in activity.findall("transaction"):
            kind = transaction.find("transaction-type").get("code")
            value = transaction.find("value")
            currency = value.get("currency") or default_currency
            amount = float(value.text)
            if currency != default_currency:
                words = transaction.findtext("description/narrative") or ""
                found = re.search(r"([-0-9.]+) " + re.escape(default_currency) + r" paid as ", words)
                if not found:
                    fail(activity, 6, f"transaction {transaction.get('ref')} in {currency} states no {default_currency} amount")
                    continue
                amount = float(found.group(1))
            if kind == "2":
                committed += amount
            elif kind == "3":
                disbursed += amount
        checked += 1
        if disbursed > committed + 1e-9:
            fail(activity, 6, f"disbursed {disbursed:.2f} exceeds committed {committed:.2f}")

        vocabularies = {}
        for sector in activity.findall("sector"):
            vocabularies.setdefault(sector.get("vocabulary", "1"), []).append(float(sector.get("percentage", "100")))
        shares = list(vocabularies.items()) + [("countries", [float(c.get("percentage", "100")) for c in activity.findall("recipient-country")])]
        for name, percentages in shares:
            checked += 1
            if percentages and abs(sum(percentages) - 100) > 1e-9:
                fail(activity, 7, f"percentages of {name} sum to {sum(percentages)}")
    return {"checked": checked, "errors": errors}


def validate_360giving(path: Path, standards: Path) -> dict:
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    folder = standards / "360giving"
    package = json.loads((folder / "360-giving-package-schema.json").read_text())
    grant = json.loads((folder / "360-giving-schema.json").read_text())
    # The official files name their dialect `http://json-schema.org/draft/2020-12/schema` (http, not the
    # dialect's https id), which is draft 2020-12: said so rather than detected.
    resource = Resource(contents=grant, specification=DRAFT202012)
    # The package schema (1.4.3) names the grant schema by its 1.4.2 address; both mean the vendored one.
    published = grant["$id"]
    registry = Registry().with_resources([(published, resource), (published.replace("1.4.3", "1.4.2"), resource)])
    validator = jsonschema.Draft202012Validator(
        package, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    document = json.loads(path.read_text())
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(document)]
    return {"file": str(path), "grants": len(document.get("grants", [])), "errors": errors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--standards", type=Path, required=True, help="the folder of iati-2.03/ and 360giving/")
    parser.add_argument("--codelists", type=Path, help="the pyIATI 0.4.1 source archive, or a folder of codelists")
    parser.add_argument("--iati", type=Path, help="an iati-activities file")
    parser.add_argument("--360giving", dest="three_sixty", type=Path, help="a 360Giving package (JSON)")
    args = parser.parse_args()
    result = {}
    if args.iati:
        if not args.codelists:
            parser.error("--iati needs --codelists")
        result["iati"] = validate_iati(args.iati, args.standards, codelists(args.codelists))
    if args.three_sixty:
        result["360giving"] = validate_360giving(args.three_sixty, args.standards)
    print(json.dumps(result))
    return 1 if any(part["errors"] for part in result.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
