use super::*;
use crate::assessment::{assess, find, from_json, saved, Applicability, Unmet, UploadBudget};

fn compliant(id: &str, evidence: &str) -> Response {
    Response {
        requirement: id.to_owned(),
        answer: Answer::Compliant,
        evidence: Some(evidence.to_owned()),
        justification: None,
        carried_over: None,
        row: 0,
    }
}

/// A lab's IoTSF 3.0 assessment aimed at class 2: every row mandatory up to class 2 answered
/// Compliant with its report reference, except 2.4.7.8 (filed by the UK mapping under CoP
/// guideline 1, default passwords), found Non-compliant.
fn iotsf_class_2_assessment(c: &Catalogue) -> Vec<Response> {
    c.requirements
        .iter()
        .filter(|r| r.applicability.mandatory_from(0).is_some_and(|f| f <= 2))
        .map(|r| match r.id.as_str() {
            "2.4.7.8" => Response {
                answer: Answer::NonCompliant,
                ..compliant(&r.id, "LAB-7/2.4.7.8")
            },
            id => compliant(id, &format!("LAB-7/{id}")),
        })
        .collect()
}

/// ETSI EN 303 645, and its responses pre-filled from [`iotsf_class_2_assessment`].
fn iotsf_class_2_to_etsi() -> (std::sync::Arc<Catalogue>, Prefill) {
    let iotsf = find("iotsf-icaf", None).unwrap();
    let etsi = find("etsi-en-303-645", None).unwrap();
    let prefill = crosswalk()
        .unwrap()
        .prefill(&iotsf, &iotsf_class_2_assessment(&iotsf), &etsi)
        .unwrap();
    (etsi, prefill)
}

#[test]
fn the_built_in_crosswalk_loads_with_its_sources() {
    let x = crosswalk().unwrap();
    let ids: Vec<&str> = x.sources.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["uk-cop-mapping-v4", "psti-2023-sch2"]);
    assert_eq!((x.groups.len(), x.links.len()), (13, 3));
    assert!(x.relates("iotsf-icaf", "etsi-en-303-645"));
    assert!(x.relates("etsi-en-303-645", "uk-psti"));
    // Links have a direction: PSTI compliance says nothing of ETSI provisions.
    assert!(!x.relates("uk-psti", "etsi-en-303-645"));
    assert!(!x.relates("nist-ir-8425", "iotsf-icaf"));
}

/// The pre-fill on a real assessment: IoTSF 3.0 at class 2 to ETSI EN 303 645.
#[test]
fn an_iotsf_assessment_pre_fills_etsi_through_the_uk_mapping() {
    let (iotsf, etsi) = (
        find("iotsf-icaf", None).unwrap(),
        find("etsi-en-303-645", None).unwrap(),
    );
    let earlier = iotsf_class_2_assessment(&iotsf);
    let prefill = crosswalk()
        .unwrap()
        .prefill(&iotsf, &earlier, &etsi)
        .unwrap();
    let carried: Vec<&str> = prefill
        .responses
        .iter()
        .map(|r| r.requirement.as_str())
        .collect();
    let open_rows = etsi
        .requirements
        .iter()
        .filter(|r| r.applicability != Applicability::Reserved)
        .count();
    assert_eq!(carried.len() + prefill.unanswered, open_rows);
    // Guideline 1 holds 2.4.7.8, answered Non-compliant: no 5.1 provision is carried over.
    assert!(
        !carried.iter().any(|id| id.starts_with("5.1-")),
        "{carried:?}"
    );
    // 5.10-1: its guideline has no IoTSF row. 5.3-13: the mapping does not list it.
    assert!(!carried.contains(&"5.10-1") && !carried.contains(&"5.3-13"));
    // Guideline 2 (vulnerability disclosure): every IoTSF row of it the lab answered is met.
    let r = prefill
        .responses
        .iter()
        .find(|r| r.requirement == "5.2-1")
        .expect("5.2-1 carried over");
    let c = r.carried_over.as_ref().unwrap();
    assert_eq!(
        (r.answer, c.source.as_str(), c.confirmed),
        (
            Answer::Compliant,
            "uk-cop-mapping-v4: CoP guideline 2: Implement a vulnerability disclosure policy",
            false
        )
    );
    // Its basis: exactly the guideline-2 rows the lab answered, with their evidence.
    let answered: Vec<&str> = earlier
        .iter()
        .map(|r| r.requirement.as_str())
        .filter(|id| {
            crosswalk().unwrap().groups[1]
                .rows
                .iter()
                .any(|row| row.framework == "iotsf-icaf" && row.requirement == *id)
        })
        .collect();
    assert!(!answered.is_empty());
    assert_eq!(c.from, format!("iotsf-icaf 3.0: {}", answered.join(", ")));
    let evidence: Vec<String> = answered.iter().map(|id| format!("LAB-7/{id}")).collect();
    assert_eq!(r.evidence.as_deref(), Some(evidence.join("; ").as_str()));
}

/// Carried-over rows meet nothing until the certifier confirms them; confirmed, and with the
/// rest answered, they do. The record tells a confirmed row from an unconfirmed one.
#[test]
fn carried_over_rows_count_only_once_confirmed() {
    let (etsi, prefill) = iotsf_class_2_to_etsi();
    let d = assess(&etsi, 1, &prefill.responses).unwrap();
    assert_eq!(d.achieved_class, None);
    let not_confirmed = d
        .blocking
        .iter()
        .filter(|b| b.reason == Unmet::NotConfirmed)
        .count();
    let mandatory_carried = prefill
        .responses
        .iter()
        .filter(|r| {
            etsi.requirement(&r.requirement)
                .is_some_and(|row| row.applicability.mandatory_from(1).is_some())
        })
        .count();
    assert_eq!(not_confirmed, mandatory_carried);
    assert!(not_confirmed > 0);
    // The certifier confirms every carried row and answers the rest itself.
    let mut confirmed = prefill.responses.clone();
    for r in &mut confirmed {
        r.carried_over.as_mut().unwrap().confirmed = true;
    }
    let rest = etsi
        .requirements
        .iter()
        .filter(|row| !confirmed.iter().any(|r| r.requirement == row.id))
        .map(|row| compliant(&row.id, "ETSI-ASSESSMENT-2"))
        .collect::<Vec<_>>();
    let all: Vec<Response> = confirmed.iter().cloned().chain(rest).collect();
    let met = assess(&etsi, 1, &all).unwrap();
    assert_eq!(met.achieved_class, Some(1));
    let unconfirmed_digest = {
        let mut first = all.clone();
        first[0].carried_over.as_mut().unwrap().confirmed = false;
        assess(&etsi, 1, &first).unwrap().digest
    };
    assert_ne!(met.digest, unconfirmed_digest);
}

/// A saved pre-fill reads back to the same responses, `carried_over` included.
#[test]
fn a_saved_pre_fill_round_trips() {
    let (etsi, prefill) = iotsf_class_2_to_etsi();
    let doc = saved(&etsi, 1, &prefill.responses);
    assert_eq!(doc["release"], "2.1.1");
    let bytes = serde_json::to_vec(&doc).unwrap();
    let file = from_json(&bytes, &UploadBudget::default()).unwrap();
    assert_eq!(
        (
            file.framework.as_deref(),
            file.release.as_deref(),
            file.target_class
        ),
        (Some("etsi-en-303-645"), Some("2.1.1"), Some(1))
    );
    assert_eq!(file.responses, prefill.responses);
}

/// PSTI Schedule 2: ETSI 5.1-1 and 5.1-2 together are deemed compliance with paragraph 1; a
/// justified NA on the conditional 5.1-2 still lets 5.1-1 carry it.
#[test]
fn etsi_pre_fills_psti_through_the_deemed_compliance_links() {
    let (etsi, psti) = (
        find("etsi-en-303-645", None).unwrap(),
        find("uk-psti", None).unwrap(),
    );
    let earlier = vec![
        compliant("5.1-1", "PW-REPORT"),
        Response {
            answer: Answer::NotApplicable,
            evidence: None,
            justification: Some("no passwords in any state".into()),
            ..compliant("5.1-2", "")
        },
        compliant("5.2-1", "VDP-URL"),
    ];
    let prefill = crosswalk()
        .unwrap()
        .prefill(&etsi, &earlier, &psti)
        .unwrap();
    let got: Vec<(&str, &str, &str)> = prefill
        .responses
        .iter()
        .map(|r| {
            let c = r.carried_over.as_ref().unwrap();
            (
                r.requirement.as_str(),
                r.evidence.as_deref().unwrap(),
                c.from.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("1", "PW-REPORT", "etsi-en-303-645 2.1.1: 5.1-1, 5.1-2"),
            ("2", "VDP-URL", "etsi-en-303-645 2.1.1: 5.2-1"),
        ]
    );
    assert!(prefill.responses[0]
        .carried_over
        .as_ref()
        .unwrap()
        .source
        .starts_with("psti-2023-sch2: deemed compliance condition: Schedule 2 para 1"));
    assert_eq!(prefill.unanswered, 1);
    // 5.1-1 found Non-compliant: paragraph 1 is not carried over.
    let failed = vec![Response {
        answer: Answer::NonCompliant,
        ..compliant("5.1-1", "PW-REPORT")
    }];
    let prefill = crosswalk().unwrap().prefill(&etsi, &failed, &psti).unwrap();
    assert!(prefill.responses.is_empty());
}

#[test]
fn frameworks_with_no_published_link_are_refused() {
    let (nist, iotsf) = (
        find("nist-ir-8425", None).unwrap(),
        find("iotsf-icaf", None).unwrap(),
    );
    assert_eq!(
        crosswalk().unwrap().prefill(&nist, &[], &iotsf).unwrap_err().to_string(),
        "cannot carry nist-ir-8425 responses over to iotsf-icaf: no published source in the crosswalk relates their requirements"
    );
    let v4 = find("iotsf-icaf", Some("4.0")).unwrap();
    assert_eq!(
        crosswalk().unwrap().prefill(&iotsf, &[], &v4).unwrap_err().to_string(),
        "cannot carry iotsf-icaf responses over to iotsf-icaf: one framework's releases are compared with `frameworks diff`, not carried over"
    );
}

#[test]
fn a_crosswalk_without_sources_or_with_unknown_rows_is_refused() {
    let catalogues = crate::assessment::built_in().unwrap();
    let source = "[[source]]\nid = \"s\"\ntitle = \"t\"\nurl = \"https://example.org\"\n";
    for (text, reason) in [
        (
            format!("{source}[[link]]\nfrom = \"etsi-en-303-645:5.1-1\"\nto = \"uk-psti:1\"\nsource = \"other\"\nnote = \"n\"\n"),
            "source \"other\" is not listed: links without a published source stay out",
        ),
        (
            format!("{source}[[group]]\nsource = \"s\"\nname = \"g\"\nrows = [\"uk-psti:9\"]\n"),
            "uk-psti:9: no built-in release of uk-psti has this requirement",
        ),
        (
            format!("{source}[[group]]\nsource = \"s\"\nname = \"g\"\nrows = [\"psti:1\"]\n"),
            "psti:1: unknown framework",
        ),
        (
            format!("{source}[[link]]\nfrom = \"uk-psti:1\"\nto = \"uk-psti:2\"\nsource = \"s\"\nnote = \"n\"\n"),
            "link uk-psti:1 -> uk-psti:2: within one framework",
        ),
        (
            "[[source]]\nid = \"s\"\ntitle = \"t\"\nurl = \"\"\n".to_owned(),
            "a source needs an id, a title and a url",
        ),
    ] {
        match Crosswalk::from_toml(&text, catalogues) {
            Err(AssessmentError::Catalogue { reason: got, .. }) => assert_eq!(got, reason),
            other => panic!("{other:?}"),
        }
    }
}
