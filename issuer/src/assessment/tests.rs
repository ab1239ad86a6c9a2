//! The decision rules, one test each, the worked example of the brief, property tests, the
//! catalogue checks and format equivalence.

use proptest::prelude::*;

use super::*;

/// A small catalogue: classes 0-3, one mandatory row per class, one advisory, one reserved.
fn toy() -> Catalogue {
    Catalogue::from_toml(
        "toy.toml",
        r#"
id = "iotsf-icaf"
number = 1
name = "toy"
version = "1"
levels = [0, 1, 2, 3]
source = "test"
[[requirement]]
id = "m0"
section = "s"
title = "mandatory from 0"
applicability = "mandatory"
mandatory_from = 0
confirmed = true
[[requirement]]
id = "m1"
section = "s"
title = "mandatory from 1"
applicability = "mandatory"
mandatory_from = 1
confirmed = true
[[requirement]]
id = "m2"
section = "s"
title = "mandatory from 2"
applicability = "mandatory"
mandatory_from = 2
confirmed = true
[[requirement]]
id = "m3"
section = "s"
title = "mandatory from 3"
applicability = "mandatory"
mandatory_from = 3
confirmed = false
[[requirement]]
id = "a"
section = "s"
title = "advisory"
applicability = "advisory"
confirmed = true
[[requirement]]
id = "r"
section = "s"
title = "blank"
applicability = "reserved"
confirmed = true
"#,
    )
    .unwrap()
}

fn compliant(id: &str) -> Response {
    Response {
        row: 0,
        requirement: id.into(),
        answer: Answer::Compliant,
        evidence: Some(format!("EV-{id}")),
        justification: None,
        carried_over: None,
    }
}

fn all_met(catalogue: &Catalogue) -> Vec<Response> {
    catalogue
        .requirements
        .iter()
        .filter(|r| {
            r.applicability
                .mandatory_from(catalogue.first_level())
                .is_some()
        })
        .map(|r| compliant(&r.id))
        .collect()
}

fn with(mut responses: Vec<Response>, changed: Response) -> Vec<Response> {
    responses.retain(|r| r.requirement != changed.requirement);
    responses.push(changed);
    responses
}

#[test]
fn worked_example_unmet_class_3_row_gives_class_2() {
    let c = toy();
    let responses = with(
        all_met(&c),
        Response {
            row: 0,
            answer: Answer::NonCompliant,
            evidence: None,
            ..compliant("m3")
        },
    );
    let d = assess(&c, 3, &responses).unwrap();
    assert_eq!(d.achieved_class, Some(2));
    assert!(!d.meets_target);
    assert_eq!(d.blocking.len(), 1);
    assert_eq!(
        (d.blocking[0].id.as_str(), d.blocking[0].reason),
        ("m3", Unmet::NonCompliant)
    );
    assert_eq!(d.unconfirmed_rows, vec!["m3".to_owned()]);
}

#[test]
fn worked_example_on_the_real_iotsf_catalogue() {
    let c = find("iotsf-icaf", None).unwrap();
    let class3_row = c
        .requirements
        .iter()
        .find(|r| r.applicability == Applicability::Mandatory { from: 3 })
        .unwrap()
        .id
        .clone();
    let responses: Vec<Response> = all_met(&c)
        .into_iter()
        .filter(|r| r.requirement != class3_row)
        .collect();
    let d = assess(&c, 3, &responses).unwrap();
    assert_eq!(d.achieved_class, Some(2));
    assert!(d
        .blocking
        .iter()
        .any(|b| b.id == class3_row && b.reason == Unmet::NoResponse));
    assert!(d.blocking.iter().all(|b| b.mandatory_from == 3));
}

/// The class 4 rule (`spec/assessment.md` 3.2): no IoTSF row is mandatory from class 4, so
/// class 4 needs exactly the rows of class 3 ("M of 2 and above" means classes 2, 3 and 4). It
/// is reached only when the certifier targets it (the risk assessment behind the target is
/// what sets it apart); aiming lower never lands on it.
#[test]
fn class_4_needs_the_class_3_rows_and_is_reached_only_when_targeted() {
    for release in ["3.0", "4.0"] {
        let c = find("iotsf-icaf", Some(release)).unwrap();
        assert_eq!(c.highest_defined_level(), Some(3), "{release}");
        let all = all_met(&c);
        let d = assess(&c, 4, &all).unwrap();
        assert_eq!(
            (d.achieved_class, d.meets_target),
            (Some(4), true),
            "{release}"
        );
        let d = assess(&c, 2, &all).unwrap();
        assert_eq!(
            (d.achieved_class, d.meets_target),
            (Some(3), true),
            "{release}"
        );
        // One class 3 row unmet: class 4 is blocked by it, as class 3 is.
        let class_3_row = c
            .requirements
            .iter()
            .find(|r| r.applicability.mandatory_from(0) == Some(3))
            .unwrap();
        let short = with(
            all.clone(),
            Response {
                answer: Answer::NonCompliant,
                ..compliant(&class_3_row.id)
            },
        );
        let d = assess(&c, 4, &short).unwrap();
        assert_eq!(
            (d.achieved_class, d.meets_target),
            (Some(2), false),
            "{release}"
        );
        assert_eq!(d.blocking_for_target[0].id, class_3_row.id);
    }
}

/// A catalogue in which no row is mandatory certifies nothing: refused up front.
#[test]
fn a_catalogue_with_no_mandatory_row_certifies_no_class() {
    let c = Catalogue::from_toml(
        "advisory.toml",
        r#"id = "iotsf-icaf"
number = 1
name = "advice only"
version = "0"
levels = [0, 1]
source = "test"
[[requirement]]
id = "a1"
section = "a"
title = "advice"
applicability = "advisory"
confirmed = true
"#,
    )
    .unwrap();
    match assess(&c, 1, &[]) {
        Err(e @ AssessmentError::ClassNotCertifiable { .. }) => assert_eq!(
            e.to_string(),
            "iotsf-icaf cannot certify any class: no requirement of the catalogue is mandatory"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn partially_compliant_never_meets_a_mandatory_row() {
    let c = toy();
    let p = Response {
        row: 0,
        answer: Answer::PartiallyCompliant,
        justification: Some("most of it".into()),
        ..compliant("m1")
    };
    let d = assess(&c, 3, &with(all_met(&c), p)).unwrap();
    assert_eq!(d.achieved_class, Some(0));
    assert_eq!(d.blocking[0].reason, Unmet::PartiallyCompliant);
}

#[test]
fn not_applicable_needs_a_justification() {
    let c = toy();
    let bare = Response {
        row: 0,
        answer: Answer::NotApplicable,
        evidence: None,
        justification: None,
        ..compliant("m2")
    };
    assert_eq!(
        assess(&c, 3, &with(all_met(&c), bare.clone()))
            .unwrap()
            .achieved_class,
        Some(1)
    );
    let justified = Response {
        row: 0,
        justification: Some("no radio".into()),
        ..bare
    };
    assert_eq!(
        assess(&c, 3, &with(all_met(&c), justified))
            .unwrap()
            .achieved_class,
        Some(3)
    );
}

#[test]
fn compliant_needs_evidence() {
    let c = toy();
    let d = assess(
        &c,
        3,
        &with(
            all_met(&c),
            Response {
                row: 0,
                evidence: None,
                ..compliant("m0")
            },
        ),
    )
    .unwrap();
    assert_eq!(d.achieved_class, None);
    assert_eq!(d.blocking[0].reason, Unmet::NoEvidence);
}

#[test]
fn a_missing_row_is_unmet() {
    let c = toy();
    let responses: Vec<Response> = all_met(&c)
        .into_iter()
        .filter(|r| r.requirement != "m1")
        .collect();
    let d = assess(&c, 1, &responses).unwrap();
    assert_eq!(d.achieved_class, Some(0));
    assert_eq!(d.blocking_for_target[0].reason, Unmet::NoResponse);
}

#[test]
fn advisory_without_rationale_is_a_finding() {
    let c = toy();
    let n = Response {
        row: 0,
        answer: Answer::NonCompliant,
        evidence: None,
        ..compliant("a")
    };
    let d = assess(&c, 3, &with(all_met(&c), n.clone())).unwrap();
    assert_eq!(
        d.achieved_class,
        Some(3),
        "advisory rows never block IoTSF classes"
    );
    assert_eq!(d.findings.len(), 1);
    assert!(d.findings[0].missing_rationale);
    let explained = Response {
        row: 0,
        justification: Some("planned for v2".into()),
        ..n
    };
    let d = assess(&c, 3, &with(all_met(&c), explained)).unwrap();
    assert!(!d.findings[0].missing_rationale);
    assert_eq!(d.findings[0].rationale.as_deref(), Some("planned for v2"));
}

#[test]
fn etsi_conditional_provisions_and_recommendations() {
    let c = find("etsi-en-303-645", None).unwrap();
    let conditional = c
        .requirements
        .iter()
        .find(|r| matches!(r.applicability, Applicability::MandatoryConditional { .. }))
        .unwrap();
    let unconditional = c
        .requirements
        .iter()
        .find(|r| matches!(r.applicability, Applicability::Mandatory { .. }))
        .unwrap();
    let recommended = c
        .requirements
        .iter()
        .find(|r| r.applicability == Applicability::Recommended)
        .unwrap();
    let na = |id: &str, why: Option<&str>| Response {
        row: 0,
        requirement: id.into(),
        answer: Answer::NotApplicable,
        evidence: None,
        justification: why.map(Into::into),
        carried_over: None,
    };
    let met = all_met(&c);
    assert_eq!(assess(&c, 1, &met).unwrap().achieved_class, Some(1));
    // NA on a conditional provision with the condition stated: met.
    let d = assess(
        &c,
        1,
        &with(
            met.clone(),
            na(&conditional.id, Some("the device has no passwords")),
        ),
    )
    .unwrap();
    assert_eq!(d.achieved_class, Some(1));
    // NA on a conditional provision without the condition: unmet.
    let d = assess(&c, 1, &with(met.clone(), na(&conditional.id, None))).unwrap();
    assert_eq!(
        (d.achieved_class, d.blocking[0].reason),
        (None, Unmet::NoJustification)
    );
    // NA on an unconditional provision: not allowed, even justified.
    let d = assess(
        &c,
        1,
        &with(met.clone(), na(&unconditional.id, Some("we think not"))),
    )
    .unwrap();
    assert_eq!(d.blocking[0].reason, Unmet::NotApplicableNotAllowed);
    // An unmet recommendation blocks unless justified.
    let unjustified = Response {
        row: 0,
        answer: Answer::NonCompliant,
        evidence: None,
        ..compliant(&recommended.id)
    };
    let d = assess(&c, 1, &with(met.clone(), unjustified.clone())).unwrap();
    assert_eq!(
        (d.achieved_class, d.blocking[0].reason),
        (None, Unmet::UnjustifiedRecommendation)
    );
    let justified = Response {
        row: 0,
        justification: Some("not feasible on this hardware".into()),
        ..unjustified
    };
    let d = assess(&c, 1, &with(met, justified)).unwrap();
    assert_eq!(d.achieved_class, Some(1));
    assert_eq!(d.findings.len(), 1);
}

#[test]
fn psti_needs_all_three() {
    let c = find("uk-psti", None).unwrap();
    assert_eq!(c.requirements.len(), 3);
    let met = all_met(&c);
    assert_eq!(met.len(), 3);
    assert_eq!(assess(&c, 1, &met).unwrap().achieved_class, Some(1));
    assert_eq!(assess(&c, 1, &met[..2]).unwrap().achieved_class, None);
}

#[test]
fn responses_are_checked_against_the_catalogue() {
    let c = toy();
    let err = |responses: Vec<Response>| assess(&c, 1, &responses).unwrap_err().to_string();
    assert!(err(vec![compliant("zz")]).contains("not a requirement"));
    assert!(err(vec![compliant("r")]).contains("reserved"));
    assert!(err(vec![compliant("m0"), compliant("m0")]).contains("twice"));
    assert!(matches!(
        assess(&c, 9, &[]),
        Err(AssessmentError::UnknownClass { class: 9, .. })
    ));
}

fn any_answer() -> impl Strategy<Value = (Answer, bool, bool)> {
    (
        prop_oneof![
            Just(Answer::Compliant),
            Just(Answer::PartiallyCompliant),
            Just(Answer::NonCompliant),
            Just(Answer::NotApplicable)
        ],
        any::<bool>(),
        any::<bool>(),
    )
}

fn responses_for(
    c: &Catalogue,
    answers: &[(Answer, bool, bool)],
    present: &[bool],
) -> Vec<Response> {
    c.requirements
        .iter()
        .filter(|r| r.applicability != Applicability::Reserved)
        .zip(answers.iter().zip(present))
        .filter(|(_, (_, present))| **present)
        .map(|(row, ((answer, evidence, justification), _))| Response {
            row: 0,
            requirement: row.id.clone(),
            answer: *answer,
            evidence: evidence.then(|| "EV".to_owned()),
            justification: justification.then(|| "because".to_owned()),
            carried_over: None,
        })
        .collect()
}

proptest! {
    /// Turning any met row into an unmet one never raises the achieved class.
    #[test]
    fn unmeeting_a_row_never_raises_the_class(
        answers in proptest::collection::vec(any_answer(), 300),
        present in proptest::collection::vec(any::<bool>(), 300),
        pick in any::<usize>(),
    ) {
        let c = find("iotsf-icaf", None).unwrap();
        let responses = responses_for(&c, &answers, &present);
        let before = decide(&c, 4, &responses).achieved_class;
        if !responses.is_empty() {
            let mut worse = responses.clone();
            let i = pick % worse.len();
            worse[i].answer = Answer::NonCompliant;
            prop_assert!(decide(&c, 4, &worse).achieved_class <= before);
            worse.remove(i);
            prop_assert!(decide(&c, 4, &worse).achieved_class <= before);
        }
    }

    /// Meeting every mandatory row of class c gives at least c (or the highest class the
    /// catalogue sets requirements for, if lower), whatever else is answered.
    #[test]
    fn meeting_class_c_gives_at_least_c(
        class in 0u8..=4,
        answers in proptest::collection::vec(any_answer(), 300),
        present in proptest::collection::vec(any::<bool>(), 300),
    ) {
        let c = find("iotsf-icaf", None).unwrap();
        let mut responses = responses_for(&c, &answers, &present);
        for row in &c.requirements {
            if row.applicability.mandatory_from(0).is_some_and(|f| f <= class) {
                responses = with(responses, compliant(&row.id));
            }
        }
        let defined = c.requirements.iter().filter_map(|r| r.applicability.mandatory_from(0)).max();
        prop_assert!(decide(&c, class, &responses).achieved_class >= defined.map(|top| class.min(top)));
    }
}

#[test]
fn catalogues_load_and_ids_are_well_formed() {
    let catalogues = built_in().unwrap();
    let releases: Vec<(&str, &str)> = catalogues
        .iter()
        .map(|c| (c.id.as_str(), c.mark_version.as_str()))
        .collect();
    assert_eq!(
        releases,
        [
            ("iotsf-icaf", "3.0"),
            ("iotsf-icaf", "4.0"),
            ("etsi-en-303-645", "2.1.1"),
            ("uk-psti", "2023"),
            ("nist-ir-8425", "2022-09")
        ]
    );
    for c in catalogues {
        let pattern: fn(&str) -> bool = match c.id.as_str() {
            "iotsf-icaf" => |id| {
                let parts: Vec<&str> = id.split('.').collect();
                (4..=5).contains(&parts.len())
                    && parts[..2] == ["2", "4"]
                    && parts.iter().all(|p| p.parse::<u16>().is_ok())
            },
            "etsi-en-303-645" => |id| {
                id.split_once('-').is_some_and(|(clause, n)| {
                    clause.split('.').all(|p| p.parse::<u8>().is_ok())
                        && n.trim_end_matches(|ch: char| ch.is_ascii_uppercase())
                            .parse::<u8>()
                            .is_ok()
                })
            },
            // NIST IR 8425: capability abbreviation, outcome number, sub-outcome letter.
            "nist-ir-8425" => |id| {
                id.split_once('-').is_some_and(|(capability, n)| {
                    !capability.is_empty()
                        && capability.chars().all(|ch| ch.is_ascii_uppercase())
                        && n.trim_end_matches(|ch: char| ch.is_ascii_lowercase())
                            .parse::<u8>()
                            .is_ok()
                })
            },
            _ => |id| id.parse::<u8>().is_ok(),
        };
        for r in &c.requirements {
            assert!(pattern(&r.id), "{}: malformed id {}", c.id, r.id);
            assert!(
                r.id.starts_with(&r.section)
                    || ["uk-psti", "nist-ir-8425"].contains(&c.id.as_str()),
                "{}: {} not in section {}",
                c.id,
                r.id,
                r.section
            );
        }
    }
}

#[test]
fn iotsf_has_every_section() {
    let c = find("iotsf-icaf", None).unwrap();
    for section in 3..=16 {
        let name = format!("2.4.{section}");
        assert!(
            c.requirements.iter().any(|r| r.section == name),
            "section {name} is missing"
        );
    }
    assert_eq!(c.levels, vec![0, 1, 2, 3, 4]);
}

#[test]
fn etsi_has_every_provision_group() {
    let c = find("etsi-en-303-645", None).unwrap();
    for section in (1..=13).map(|n| format!("5.{n}")).chain(["6".to_owned()]) {
        assert!(
            c.requirements.iter().any(|r| r.section == section),
            "{section} is missing"
        );
    }
}

#[test]
fn csv_xlsx_and_json_give_the_same_digest() {
    let c = find("iotsf-icaf", None).unwrap();
    let rows = [
        ("2.4.3.1", "Compliant", "EV-001", ""),
        ("2.4.3.2", "C", "EV-002", ""),
        (
            "2.4.3.4",
            "partially compliant",
            "",
            "gap in training records",
        ),
        ("2.4.3.5", "N/A", "", "no researchers engaged"),
    ];
    let mut csv = String::from("Requirement,Response,Evidence reference,Justification\n");
    for (id, response, evidence, why) in rows {
        csv.push_str(&format!("{id},{response},{evidence},\"{why}\"\n"));
    }
    let json = serde_json::json!({"responses": rows.iter().map(|(id, response, evidence, why)| serde_json::json!({
        "requirement": id, "response": response, "evidence": evidence, "justification": why,
    })).collect::<Vec<_>>()});
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (col, header) in ["Requirement", "Response", "Evidence", "Rationale"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, *header).unwrap();
    }
    for (i, (id, response, evidence, why)) in rows.iter().enumerate() {
        for (col, value) in [id, response, evidence, why].iter().enumerate() {
            if !value.is_empty() {
                sheet
                    .write_string(i as u32 + 1, col as u16, **value)
                    .unwrap();
            }
        }
    }
    let xlsx = workbook.save_to_buffer().unwrap();
    let digests: Vec<String> = [
        parse(
            csv.as_bytes(),
            ResponsesFormat::Csv,
            &UploadBudget::default(),
        )
        .unwrap(),
        parse(
            xlsx.as_slice(),
            ResponsesFormat::Xlsx,
            &UploadBudget::default(),
        )
        .unwrap(),
        parse(
            json.to_string().as_bytes(),
            ResponsesFormat::Json,
            &UploadBudget::default(),
        )
        .unwrap(),
    ]
    .iter()
    .map(|file| assess(&c, 2, &file.responses).unwrap().digest)
    .collect();
    assert_eq!(digests[0], digests[1]);
    assert_eq!(digests[0], digests[2]);
    // A different answer changes the digest.
    let other = parse(
        csv.replace("Compliant,EV-001", "N,EV-001").as_bytes(),
        ResponsesFormat::Csv,
        &UploadBudget::default(),
    )
    .unwrap();
    assert_ne!(assess(&c, 2, &other.responses).unwrap().digest, digests[0]);
}

#[test]
fn xlsx_errors_name_the_cell() {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.write_string(0, 0, "Requirement").unwrap();
    sheet.write_string(0, 1, "Response").unwrap();
    sheet.write_string(1, 0, "2.4.3.1").unwrap();
    sheet.write_string(1, 1, "perhaps").unwrap();
    let xlsx = workbook.save_to_buffer().unwrap();
    match parse(&xlsx, ResponsesFormat::Xlsx, &UploadBudget::default()) {
        Err(AssessmentError::Responses { row, column, .. }) => {
            assert_eq!((row, column.as_str()), (2, "B"))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(
            b"not a zip",
            ResponsesFormat::Xlsx,
            &UploadBudget::default()
        ),
        Err(AssessmentError::Responses { row: 0, .. })
    ));
}

#[test]
fn a_level_above_every_row_is_reached_only_when_targeted() {
    // The toy catalogue's rows go up to class 3; with a level 4 added and every row met, class
    // 4 is achieved when targeted, and class 3 is the top otherwise.
    let mut c4 = toy();
    c4.levels.push(4);
    let all = all_met(&c4);
    assert_eq!(decide(&c4, 4, &all).achieved_class, Some(4));
    for target in 0..=3 {
        assert_eq!(decide(&c4, target, &all).achieved_class, Some(3));
    }
}

/// A workbook with a header row and `rows` PSTI-style data rows.
fn workbook(rows: u32) -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (col, header) in ["requirement", "response", "evidence"].iter().enumerate() {
        sheet.write_string(0, col as u16, *header).unwrap();
    }
    for row in 1..=rows {
        sheet.write_string(row, 0, row.to_string()).unwrap();
        sheet.write_string(row, 1, "C").unwrap();
        sheet.write_string(row, 2, format!("EV-{row}")).unwrap();
    }
    workbook.save_to_buffer().unwrap()
}

/// The budget an upload exceeded, with where.
fn over_budget(result: Result<ResponsesFile, AssessmentError>) -> (Limit, String) {
    match result {
        Err(AssessmentError::OverBudget(over)) => (over.limit, over.at),
        other => panic!("expected an over-budget error, got {other:?}"),
    }
}

#[test]
fn xlsx_parts_are_inflated_under_a_budget_before_the_reader_sees_them() {
    let xlsx = workbook(3);
    assert_eq!(
        parse(&xlsx, ResponsesFormat::Xlsx, &UploadBudget::default())
            .unwrap()
            .responses
            .len(),
        3
    );
    let small = |budget: UploadBudget| parse(&xlsx, ResponsesFormat::Xlsx, &budget);
    let (limit, _) = over_budget(small(UploadBudget {
        part_bytes: 200,
        ..UploadBudget::default()
    }));
    assert_eq!(limit, Limit::PartBytes);
    let (limit, at) = over_budget(small(UploadBudget {
        total_bytes: 2000,
        ..UploadBudget::default()
    }));
    assert_eq!(limit, Limit::TotalBytes, "{at}");
    let (limit, at) = over_budget(small(UploadBudget {
        zip_entries: 3,
        ..UploadBudget::default()
    }));
    assert_eq!((limit, at.as_str()), (Limit::ZipEntries, "archive"));
    // The shared strings declare 3 + 3 + 3 strings (and 10 unique ones).
    let (limit, at) = over_budget(small(UploadBudget {
        cells: 5,
        ..UploadBudget::default()
    }));
    assert_eq!(
        (limit, at.as_str()),
        (Limit::Cells, "xl/sharedStrings.xml (declared string count)")
    );
}

#[test]
fn xlsx_rows_columns_and_cells_are_counted_where_they_are() {
    let far = |row: u32, col: u16| {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        sheet.write_string(0, 0, "requirement").unwrap();
        sheet.write_number(row, col, 1.0).unwrap();
        workbook.save_to_buffer().unwrap()
    };
    let budget = UploadBudget::default();
    // One cell at the last row of a sheet: refused at that cell, nothing dense is built.
    let (limit, at) = over_budget(parse(&far(1_048_575, 0), ResponsesFormat::Xlsx, &budget));
    assert_eq!((limit, at.as_str()), (Limit::Rows, "cell A1048576"));
    let (limit, at) = over_budget(parse(&far(1, 16_383), ResponsesFormat::Xlsx, &budget));
    assert_eq!((limit, at.as_str()), (Limit::Columns, "cell XFD2"));
    // Numbers and one repeated string: the shared strings declare 23, under the budget.
    let mut numbers = rust_xlsxwriter::Workbook::new();
    let sheet = numbers.add_worksheet();
    for (col, header) in ["requirement", "response", "evidence"].iter().enumerate() {
        sheet.write_string(0, col as u16, *header).unwrap();
    }
    for row in 1..=20 {
        sheet.write_number(row, 0, f64::from(row)).unwrap();
        sheet.write_string(row, 1, "C").unwrap();
        sheet.write_number(row, 2, 7.0).unwrap();
    }
    let (limit, at) = over_budget(parse(
        &numbers.save_to_buffer().unwrap(),
        ResponsesFormat::Xlsx,
        &UploadBudget {
            cells: 40,
            ..budget
        },
    ));
    assert_eq!((limit, at.as_str()), (Limit::Cells, "cell B14"));
    let mut long = rust_xlsxwriter::Workbook::new();
    long.add_worksheet()
        .write_string(0, 0, "x".repeat(5000))
        .unwrap();
    let (limit, at) = over_budget(parse(
        &long.save_to_buffer().unwrap(),
        ResponsesFormat::Xlsx,
        &budget,
    ));
    assert_eq!((limit, at.as_str()), (Limit::CellBytes, "cell A1"));
}

#[test]
fn csv_and_json_are_read_under_the_same_budgets() {
    let budget = UploadBudget {
        rows: 5,
        columns: 4,
        cells: 12,
        cell_bytes: 16,
        ..UploadBudget::default()
    };
    let csv = |text: &str| parse(text.as_bytes(), ResponsesFormat::Csv, &budget);
    assert_eq!(
        csv("requirement,response\n1,C\n2,C\n3,C\n4,C\n")
            .unwrap()
            .responses
            .len(),
        4
    );
    let cases = [
        (
            "requirement,response\n1,C\n2,C\n3,C\n4,C\n5,C\n",
            Limit::Rows,
            "line 6, record 5",
        ),
        ("requirement,response,a,b,c\n", Limit::Columns, "line 1"),
        (
            "requirement,response\n1,C,x\n2,C,x\n3,C,x\n4,C,x\n",
            Limit::Cells,
            "line 5",
        ),
        (
            "requirement,response\n1,0123456789abcdefg\n",
            Limit::CellBytes,
            "line 2, column 2",
        ),
    ];
    for (text, limit, at) in cases {
        assert_eq!(over_budget(csv(text)), (limit, at.to_owned()), "{text}");
    }
    // Records ended by a lone carriage return stay on "line 1": they count as rows all the same
    // (found by the `responses` fuzz target).
    assert_eq!(
        over_budget(csv("requirement,response\r1,C\r2,C\r3,C\r4,C\r5,C\r")),
        (Limit::Rows, "line 1, record 5".to_owned())
    );
    let response = r#"{"requirement":"1","response":"C"}"#;
    let array = |n: usize| format!("[{}]", vec![response; n].join(","));
    let json = |text: &str| parse(text.as_bytes(), ResponsesFormat::Json, &budget);
    assert_eq!(json(&array(5)).unwrap().responses.len(), 5);
    assert_eq!(
        over_budget(json(&array(6))),
        (Limit::Rows, "responses[5]".to_owned())
    );
    assert_eq!(
        over_budget(json(&format!(r#"{{"responses": {}}}"#, array(6)))),
        (Limit::Rows, "responses[5]".to_owned())
    );
    assert_eq!(
        over_budget(json(
            r#"[{"requirement":"1","response":"C","evidence":"0123456789abcdefg"}]"#
        )),
        (Limit::CellBytes, "responses[0].evidence".to_owned())
    );
    assert_eq!(
        over_budget(parse(
            &[b' '; 100],
            ResponsesFormat::Json,
            &UploadBudget {
                file_bytes: 99,
                ..budget
            }
        )),
        (Limit::FileBytes, "file".to_owned())
    );
}

#[test]
fn json_is_read_typed_so_deep_nesting_and_unknown_fields_stop_at_once() {
    let budget = UploadBudget::default();
    let refused = |text: String| match parse(text.as_bytes(), ResponsesFormat::Json, &budget) {
        Err(AssessmentError::Responses { reason, .. }) => reason,
        other => panic!("{other:?}"),
    };
    // A value of the wrong type is refused where it starts: 100 000 levels are never walked.
    let deep = format!(
        r#"[{{"requirement": {}1{}, "response": "C"}}]"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(refused(deep).contains("invalid type: sequence, expected a string"));
    assert!(
        refused(r#"{"responses": [], "extra": {"a": [[[]]]}}"#.into())
            .contains("unknown field `extra`")
    );
    assert!(refused(r#"{"responses": [], "responses": []}"#.into())
        .contains("duplicate field `responses`"));
    assert!(refused(r#"[] []"#.into()).contains("not valid JSON"));
    let saved = r#"{"framework": "uk-psti", "target_class": 1, "responses": [{"requirement": "1", "response": "C", "evidence": "E"}]}"#;
    let file = parse(saved.as_bytes(), ResponsesFormat::Json, &budget).unwrap();
    assert_eq!(
        (
            file.framework.as_deref(),
            file.target_class,
            file.responses.len()
        ),
        (Some("uk-psti"), Some(1), 1)
    );
}

/// A one-row catalogue of `iotsf-icaf` with `extra` after `source` (top-level keys, or
/// `[[class]]` tables).
fn catalogue_with(extra: &str) -> Result<Catalogue, AssessmentError> {
    Catalogue::from_toml(
        "test.toml",
        &format!(
            r#"
id = "iotsf-icaf"
number = 1
name = "test"
version = "4.0"
levels = [0, 1, 2]
source = "test"
{extra}
[[requirement]]
id = "2.4.3.1"
section = "2.4.3"
title = "a row"
applicability = "mandatory"
mandatory_from = 1
confirmed = true
source = "https://af.iotsf.org/4.0.0/requirements/2.4.3"
class_text = "M of 1 and above"
"#
        ),
    )
}

#[test]
fn class_meanings_and_row_sources_are_read_and_checked() {
    let class = |level: u8, meaning: &str| {
        format!("[[class]]\nlevel = {level}\nmeaning = \"{meaning}\"\nsource = \"page\"\n")
    };
    let c = catalogue_with(&(class(0, "little harm") + &class(2, "serious harm"))).unwrap();
    assert_eq!(
        c.classes
            .iter()
            .map(|c| (c.level, c.meaning.as_str()))
            .collect::<Vec<_>>(),
        [(0, "little harm"), (2, "serious harm")]
    );
    let row = &c.requirements[0];
    assert_eq!(
        (row.source.as_deref(), row.class_text.as_deref()),
        (
            Some("https://af.iotsf.org/4.0.0/requirements/2.4.3"),
            Some("M of 1 and above")
        )
    );
    let json = c.to_json();
    assert_eq!(json["classes"][1]["meaning"], "serious harm");
    assert_eq!(json["requirements"][0]["class_text"], "M of 1 and above");
    for (extra, reason) in [
        (class(3, "x"), "class 3: not one of the levels"),
        (
            class(1, "x") + &class(1, "y"),
            "class 1: classes must be listed once each, in ascending order",
        ),
        (
            class(2, "x") + &class(1, "y"),
            "class 1: classes must be listed once each, in ascending order",
        ),
        (class(1, " "), "class 1: meaning and source are required"),
    ] {
        match catalogue_with(&extra) {
            Err(AssessmentError::Catalogue { file, reason: got }) => {
                assert_eq!((file.as_str(), got.as_str()), ("test.toml", reason))
            }
            other => panic!("{extra}: {other:?}"),
        }
    }
}

/// Every row of every built-in catalogue says where it was read (an unconfirmed row: where its
/// existence comes from, never passed off as a confirmation), and every unconfirmed row says
/// why; the counts are those `spec/frameworks-sources.md` gives.
#[test]
fn every_built_in_row_has_a_source_and_every_unconfirmed_row_a_reason() {
    let counts: Vec<(&str, &str, usize, usize)> = built_in()
        .unwrap()
        .iter()
        .map(|c| {
            for r in &c.requirements {
                let at = format!("{} {} row {}", c.id, c.mark_version, r.id);
                let source = r
                    .source
                    .as_deref()
                    .unwrap_or_else(|| panic!("{at}: no source"));
                if !r.confirmed {
                    assert!(
                        source.starts_with("existence only:"),
                        "{at}: an unconfirmed row's source must say it shows existence only"
                    );
                    assert!(
                        r.note.as_deref().is_some_and(|n| !n.trim().is_empty()),
                        "{at}: unconfirmed without a reason"
                    );
                }
            }
            let confirmed = c.requirements.iter().filter(|r| r.confirmed).count();
            (
                c.id.as_str(),
                c.mark_version.as_str(),
                c.requirements.len(),
                confirmed,
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("iotsf-icaf", "3.0", 218, 97),
            ("iotsf-icaf", "4.0", 225, 78),
            ("etsi-en-303-645", "2.1.1", 67, 64),
            ("uk-psti", "2023", 3, 3),
            ("nist-ir-8425", "2022-09", 43, 24),
        ]
    );
}

/// Releases are chosen by `version` or `mark_version`; without one, the default release.
#[test]
fn a_release_is_found_by_name_and_an_unknown_one_is_refused() {
    assert_eq!(find("iotsf-icaf", None).unwrap().mark_version, "3.0");
    assert_eq!(find("iotsf-icaf", Some("4.0")).unwrap().mark_version, "4.0");
    assert_eq!(
        find("etsi-en-303-645", Some("V2.1.1 (2020-06)"))
            .unwrap()
            .mark_version,
        "2.1.1"
    );
    assert_eq!(
        find("iotsf-icaf", Some("2.1")).unwrap_err().to_string(),
        "iotsf-icaf has no built-in release \"2.1\" (releases: 3.0, 4.0)"
    );
    assert_eq!(
        find("iotsf", None).unwrap_err().to_string(),
        "unknown framework \"iotsf\" (known: iotsf-icaf, etsi-en-303-645, uk-psti, nist-ir-8425)"
    );
}

#[test]
fn the_change_list_sorts_rows_by_what_is_known_of_them() {
    let row = |id: &str, applicability: &str, confirmed: bool| {
        let from = if applicability == "mandatory" {
            "mandatory_from = 1\n"
        } else {
            ""
        };
        format!(
            "[[requirement]]\nid = \"{id}\"\nsection = \"2.4.3\"\ntitle = \"t\"\napplicability = \"{applicability}\"\n{from}confirmed = {confirmed}\n"
        )
    };
    let catalogue = |version: &str, rows: &[String]| {
        Catalogue::from_toml(
            "t.toml",
            &format!(
                "id = \"iotsf-icaf\"\nnumber = 1\nname = \"t\"\nversion = \"{version}\"\nlevels = [0, 1]\nsource = \"t\"\n{}",
                rows.concat()
            ),
        )
        .unwrap()
    };
    let old = catalogue(
        "3.0",
        &[
            row("2.4.3.1", "mandatory", true),
            row("2.4.3.2", "advisory", true),
            row("2.4.3.3", "advisory", false),
            row("2.4.3.4", "advisory", true),
            row("2.4.3.9", "advisory", true),
        ],
    );
    let new = catalogue(
        "4.0",
        &[
            row("2.4.3.1", "mandatory", true),
            row("2.4.3.2", "mandatory", true),
            row("2.4.3.3", "mandatory", true),
            row("2.4.3.4", "advisory", false),
            row("2.4.3.5", "advisory", true),
        ],
    );
    let list = compare(&old, &new);
    let ids = |rows: &[Requirement]| rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let pair_ids = |pairs: &[(Requirement, Requirement)]| {
        pairs.iter().map(|(a, _)| a.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&list.added), ["2.4.3.5"]);
    assert_eq!(ids(&list.removed), ["2.4.3.9"]);
    assert_eq!(pair_ids(&list.changed), ["2.4.3.2"]);
    assert_eq!(pair_ids(&list.unsettled), ["2.4.3.3"]);
    // Same applicability, read in both: counted; read in one only (2.4.3.4): not.
    assert_eq!(list.same, 1);
    let markdown = list.to_markdown("iotsf-icaf");
    assert!(
        markdown.contains("| 2.4.3.2 | advisory (confirmed) | mandatory from 1 (confirmed) | t |")
    );
}

/// `spec/framework-changes/iotsf-icaf-3.0-4.0.md` is what `frameworks diff` makes of the
/// built-in releases 3.0 and 4.0: regenerate it when either changes
/// (`trustmark-issuer frameworks diff iotsf-icaf@3.0 iotsf-icaf@4.0`).
#[test]
fn the_iotsf_change_list_is_regenerable() {
    let old = find("iotsf-icaf", Some("3.0")).unwrap();
    let new = find("iotsf-icaf", Some("4.0")).unwrap();
    let list = compare(&old, &new);
    let generated = format!("{}\n", list.to_markdown("iotsf-icaf").trim_end());
    assert!(
        generated == include_str!("../../../spec/framework-changes/iotsf-icaf-3.0-4.0.md"),
        "spec/framework-changes/iotsf-icaf-3.0-4.0.md is stale: regenerate it with `trustmark-issuer frameworks diff iotsf-icaf@3.0 iotsf-icaf@4.0 > spec/framework-changes/iotsf-icaf-3.0-4.0.md`"
    );
}
