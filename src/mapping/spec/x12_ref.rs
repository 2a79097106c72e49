//! X12 references: where in a transaction set a field's value sits (`BEG03`, `PO107`,
//! `SLN01-2`, `DTM*010`, `N1*ST/N403`).
//!
//! Kept apart from the field compile step because the reference is a small language of its
//! own, parsed the same way whether it comes from `ref = "..."` or is built from `segment` +
//! `element`, and read again by the X12 reader's lookup.

use thiserror::Error;

/// A place in an X12 transaction set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X12Ref {
    /// When set, the first segment with this id whose element 1 equals `qualifier` anchors the
    /// lookup (`DTM*010`, `N1*ST`); `segment` is then searched from the anchor to the next
    /// segment with the anchor's id (the N1 loop: N1, N2, N3, N4).
    pub anchor: Option<(String, String)>,
    /// The segment id holding the value (`BEG`, `PO1`, `N4`).
    pub segment: String,
    /// 1-based element position.
    pub element: usize,
    /// 1-based component position inside a composite element.
    pub component: Option<usize>,
}

impl std::fmt::Display for X12Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((seg, qual)) = &self.anchor {
            write!(f, "{seg}*{qual}/")?;
        }
        write!(f, "{}{:02}", self.segment, self.element)?;
        if let Some(c) = self.component {
            write!(f, "-{c}")?;
        }
        Ok(())
    }
}

/// Text that is not an X12 reference; the message shows the forms that are.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("\"{text}\" is not an X12 reference: write e.g. \"BEG03\", \"PO107\", \"DTM*010\", \"N1*ST\" or \"N1*ST/N301\"")]
pub(crate) struct NotAReference {
    text: String,
}

/// Parse an X12 reference: `BEG03`, `PO107`, `W0105`, `SLN01-2` (component 2), `DTM*010`
/// (element 2 of the DTM whose element 1 is 010), `N1*ST` (the N1 loop for ST), and
/// `N1*ST/N301` (N301 within that loop).
pub(crate) fn parse_ref(text: &str) -> Result<X12Ref, NotAReference> {
    let text = text.trim();
    let bad = || NotAReference {
        text: text.to_string(),
    };
    let (anchor_part, element_part) = match text.split_once('/') {
        Some((a, e)) => (Some(a), Some(e)),
        None if text.contains('*') => (Some(text), None),
        None => (None, Some(text)),
    };
    let anchor = match anchor_part {
        None => None,
        Some(a) => Some(parse_anchor(a).ok_or_else(bad)?),
    };
    let mut reference = match element_part {
        Some(e) => parse_position(e).ok_or_else(bad)?,
        // `DTM*010` alone: the anchor's element 2.
        None => X12Ref {
            anchor: None,
            segment: anchor
                .as_ref()
                .expect("no element part means an anchor")
                .0
                .clone(),
            element: 2,
            component: None,
        },
    };
    reference.anchor = anchor;
    Ok(reference)
}

/// `N1*ST`: the anchor's segment id and qualifier.
fn parse_anchor(text: &str) -> Option<(String, String)> {
    let (segment, qualifier) = text.split_once('*')?;
    let valid = is_segment_id(segment) && !qualifier.is_empty() && !qualifier.contains('*');
    valid.then(|| (segment.to_string(), qualifier.to_string()))
}

/// `PO107`, `SLN01-2`: a segment id, a two-digit element position and maybe a component.
fn parse_position(text: &str) -> Option<X12Ref> {
    let (text, component) = match text.split_once('-') {
        Some((e, c)) => (e, Some(c.parse::<usize>().ok().filter(|c| *c >= 1)?)),
        None => (text, None),
    };
    if text.len() < 4 || !text.is_char_boundary(text.len() - 2) {
        return None;
    }
    let (segment, element) = text.split_at(text.len() - 2);
    let element: usize = element.parse().ok()?;
    (element != 0 && is_segment_id(segment)).then(|| X12Ref {
        anchor: None,
        segment: segment.to_string(),
        element,
        component,
    })
}

/// 2 or 3 upper-case letters or digits, starting with a letter (`PO1`, `N4`, `W01`).
pub(super) fn is_segment_id(id: &str) -> bool {
    let b = id.as_bytes();
    (2..=3).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Where an address field sits in an N1 loop when the mapping names only the loop (`N1*ST`).
pub(super) fn n1_loop_default(key: &str) -> Option<(&'static str, usize)> {
    Some(match key {
        "name" => ("N1", 2),
        "company" => ("N2", 1),
        "address1" => ("N3", 1),
        "address2" => ("N3", 2),
        "city" => ("N4", 1),
        "state" => ("N4", 2),
        "postal_code" => ("N4", 3),
        "country" => ("N4", 4),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x12_references_parse() {
        let r = parse_ref("BEG03").unwrap();
        assert_eq!((r.segment.as_str(), r.element, r.anchor), ("BEG", 3, None));
        let r = parse_ref("PO107").unwrap();
        assert_eq!((r.segment.as_str(), r.element), ("PO1", 7));
        let r = parse_ref("W0105").unwrap();
        assert_eq!((r.segment.as_str(), r.element), ("W01", 5));
        let r = parse_ref("N102").unwrap();
        assert_eq!((r.segment.as_str(), r.element), ("N1", 2));
        let r = parse_ref("DTM*010").unwrap();
        assert_eq!(r.anchor, Some(("DTM".into(), "010".into())));
        assert_eq!((r.segment.as_str(), r.element), ("DTM", 2));
        let r = parse_ref("N1*ST/N403").unwrap();
        assert_eq!((r.segment.as_str(), r.element), ("N4", 3));
        let r = parse_ref("SLN01-2").unwrap();
        assert_eq!(r.component, Some(2));
        for bad in [
            "BEG", "beg03", "BEG3", "BEGIN03", "*010", "DTM*", "N1*ST/N3", "PO100", "",
        ] {
            assert!(parse_ref(bad).is_err(), "{bad}");
        }
    }
}
