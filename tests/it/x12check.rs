//! A strict reader of X12 interchanges for the outbox tests, written from the standard and
//! sharing nothing with the engine's writer: the fixed-width ISA, separators read from it,
//! GS/GE and ST/SE pairs with their counts and control numbers, IEA, and HL hierarchies.

use std::collections::HashSet;

/// One transaction set: its ST01, ST02 and segments between ST and SE (elements split).
#[derive(Debug, Clone)]
pub struct Set {
    pub id: String,
    pub control: String,
    pub segments: Vec<Vec<String>>,
}

impl Set {
    /// Segments with this id.
    pub fn all(&self, id: &str) -> Vec<&Vec<String>> {
        self.segments.iter().filter(|s| s[0] == id).collect()
    }

    /// The first segment with this id.
    pub fn first(&self, id: &str) -> Option<&Vec<String>> {
        self.segments.iter().find(|s| s[0] == id)
    }
}

#[derive(Debug, Clone)]
pub struct Interchange {
    pub sender: (String, String),
    pub receiver: (String, String),
    pub isa_control: String,
    pub usage: String,
    pub functional_id: String,
    pub group_control: String,
    pub version: String,
    pub sets: Vec<Set>,
}

/// ISA element widths, ISA01 to ISA16.
const ISA_WIDTHS: [usize; 16] = [2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1];

/// Check one interchange completely; the first problem is the error.
pub fn check(bytes: &[u8]) -> Result<Interchange, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    if !text.starts_with("ISA") {
        return Err("does not start with ISA".into());
    }
    // The ISA is 106 characters: "ISA", 16 elements of fixed width, 16 separators, and the
    // segment terminator.
    let chars: Vec<char> = text.chars().collect();
    if chars.len() < 106 {
        return Err("shorter than an ISA segment".into());
    }
    let element = chars[3];
    let component = chars[104];
    let terminator = chars[105];
    let isa_text: String = chars[..105].iter().collect();
    let isa: Vec<&str> = isa_text.split(element).collect();
    if isa.len() != 17 {
        return Err(format!("ISA has {} elements, not 16", isa.len() - 1));
    }
    for (i, w) in ISA_WIDTHS.iter().enumerate() {
        if isa[i + 1].chars().count() != *w {
            return Err(format!(
                "ISA{:02} {:?} is not {w} characters wide",
                i + 1,
                isa[i + 1]
            ));
        }
    }
    if isa[16] != component.to_string() {
        return Err("ISA16 is not the component separator".into());
    }
    if !isa[13].chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("ISA13 {:?} is not nine digits", isa[13]));
    }
    if isa[14] != "0" && isa[14] != "1" {
        return Err("ISA14 is not 0 or 1".into());
    }
    if isa[15] != "P" && isa[15] != "T" {
        return Err("ISA15 is not P or T".into());
    }
    let body: String = chars[106..].iter().collect();
    let mut segments: Vec<Vec<String>> = Vec::new();
    for raw in body.split(terminator) {
        let seg = raw.trim_start_matches(['\r', '\n']);
        if seg.is_empty() {
            continue;
        }
        if seg.contains('\n') || seg.contains('\r') {
            return Err(format!("a line break inside segment {seg:?}"));
        }
        segments.push(seg.split(element).map(str::to_string).collect());
    }
    if !body.trim_end().ends_with(terminator) {
        return Err("the last segment has no terminator".into());
    }
    let mut it = segments.into_iter().peekable();
    let mut groups = 0;
    let mut out: Option<Interchange> = None;
    let mut set_controls = HashSet::new();
    loop {
        let Some(seg) = it.next() else {
            return Err("no IEA".into());
        };
        match seg[0].as_str() {
            "GS" => {
                if seg.len() != 9 {
                    return Err(format!("GS has {} elements, not 8", seg.len() - 1));
                }
                groups += 1;
                let mut sets = Vec::new();
                loop {
                    let Some(s) = it.next() else {
                        return Err("no GE".into());
                    };
                    match s[0].as_str() {
                        "ST" => {
                            let id = s.get(1).cloned().unwrap_or_default();
                            let control = s.get(2).cloned().unwrap_or_default();
                            if !(4..=9).contains(&control.len()) {
                                return Err(format!("ST02 {control:?} is not 4 to 9 characters"));
                            }
                            if !set_controls.insert(control.clone()) {
                                return Err(format!("ST02 {control} used twice in the group"));
                            }
                            let mut inner = Vec::new();
                            loop {
                                let Some(x) = it.next() else {
                                    return Err(format!("set {control} has no SE"));
                                };
                                if x[0] == "SE" {
                                    let count: usize =
                                        x[1].parse().map_err(|_| "SE01 is not a number")?;
                                    if count != inner.len() + 2 {
                                        return Err(format!(
                                            "SE01 says {count}, the set has {} segments",
                                            inner.len() + 2
                                        ));
                                    }
                                    if x[2] != control {
                                        return Err(format!("SE02 {} is not ST02 {control}", x[2]));
                                    }
                                    break;
                                }
                                if ["ST", "GS", "GE", "ISA", "IEA"].contains(&x[0].as_str()) {
                                    return Err(format!("{} inside set {control}", x[0]));
                                }
                                if x.last().is_some_and(String::is_empty) {
                                    return Err(format!("{} ends with an empty element", x[0]));
                                }
                                inner.push(x);
                            }
                            let set = Set {
                                id,
                                control,
                                segments: inner,
                            };
                            check_hl(&set)?;
                            sets.push(set);
                        }
                        "GE" => {
                            if s[1] != sets.len().to_string() {
                                return Err(format!(
                                    "GE01 {} but the group has {} sets",
                                    s[1],
                                    sets.len()
                                ));
                            }
                            if s[2] != seg[6] {
                                return Err(format!("GE02 {} is not GS06 {}", s[2], seg[6]));
                            }
                            break;
                        }
                        other => return Err(format!("{other} outside a set")),
                    }
                }
                if out.is_some() {
                    return Err("more than one group (these tests expect one)".into());
                }
                out = Some(Interchange {
                    sender: (isa[5].to_string(), isa[6].trim_end().to_string()),
                    receiver: (isa[7].to_string(), isa[8].trim_end().to_string()),
                    isa_control: isa[13].to_string(),
                    usage: isa[15].to_string(),
                    functional_id: seg[1].clone(),
                    group_control: seg[6].clone(),
                    version: seg[8].clone(),
                    sets,
                });
            }
            "IEA" => {
                if seg[1] != groups.to_string() {
                    return Err(format!("IEA01 {} but there are {groups} groups", seg[1]));
                }
                if seg[2] != isa[13] {
                    return Err(format!("IEA02 {} is not ISA13 {}", seg[2], isa[13]));
                }
                if it.peek().is_some() {
                    return Err("segments after the IEA".into());
                }
                return out.ok_or_else(|| "no group".to_string());
            }
            other => return Err(format!("{other} outside a group")),
        }
    }
}

/// HL01 counts 1, 2, 3 ...; HL02 names an earlier HL; HL04 is 1 exactly when a later HL names
/// this one as its parent.
fn check_hl(set: &Set) -> Result<(), String> {
    let hls = set.all("HL");
    let mut parents = HashSet::new();
    for (i, hl) in hls.iter().enumerate() {
        if hl[1] != (i + 1).to_string() {
            return Err(format!("HL01 {} is not {}", hl[1], i + 1));
        }
        let parent = hl.get(2).map(String::as_str).unwrap_or("");
        if i == 0 && !parent.is_empty() {
            return Err("the first HL has a parent".into());
        }
        if i > 0 {
            let p: usize = parent
                .parse()
                .map_err(|_| format!("HL {} has no parent", hl[1]))?;
            if p == 0 || p > i {
                return Err(format!("HL {} names parent {p}, not an earlier HL", hl[1]));
            }
            parents.insert(p);
        }
    }
    for (i, hl) in hls.iter().enumerate() {
        let want = if parents.contains(&(i + 1)) { "1" } else { "0" };
        if hl.get(4).map(String::as_str) != Some(want) {
            return Err(format!("HL {} has HL04 {:?}, not {want}", hl[1], hl.get(4)));
        }
    }
    Ok(())
}

#[test]
fn the_checker_accepts_the_shipped_samples_and_refuses_broken_ones() {
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/purchase_orders.x12"
    ))
    .unwrap();
    let i = check(&sample).unwrap();
    assert_eq!(i.sets.len(), 2);
    let text = String::from_utf8(sample).unwrap();
    for (from, to) in [
        ("SE*11*0001", "SE*10*0001"),
        ("GE*2*101", "GE*1*101"),
        ("IEA*1*000000101", "IEA*1*000000102"),
        ("*ZZ*ACMECORP       *", "*ZZ*ACMECORP *"),
        ("SE*11*0002", "SE*11*0003"),
    ] {
        let broken = text.replace(from, to);
        assert!(check(broken.as_bytes()).is_err(), "{from} -> {to}");
    }
}
