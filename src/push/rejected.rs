//! A file's rejections while it is pushed: kept in a spill file rather than in memory (a file
//! of a million bad rows has a million of them), and read back in line order for the change
//! log, the `.errors.csv` and the plan.

use crate::mapping::Rejection;
use crate::store::{Spill, StoreError};

/// The rejections of one file, sorted by line when read back (rejections on the same line keep
/// the order in which they were found).
#[derive(Default)]
pub(crate) struct FileRejections {
    /// Created with the first rejection: most files have none.
    spill: Option<Spill>,
    buf: Vec<u8>,
}

impl FileRejections {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn len(&self) -> u64 {
        self.spill.as_ref().map_or(0, Spill::len)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn add(&mut self, r: &Rejection) -> Result<(), StoreError> {
        let spill = match &mut self.spill {
            Some(spill) => spill,
            None => self.spill.insert(Spill::new()?),
        };
        encode(r, &mut self.buf);
        spill.put(r.line as i64, 0, &self.buf)
    }

    /// Every rejection, by line.
    pub(crate) fn for_each(
        &mut self,
        mut each: impl FnMut(Rejection) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let Some(spill) = &mut self.spill else {
            return Ok(());
        };
        spill.for_each_sorted(|line, _, blob| each(decode(line as usize, blob)))?
    }
}

fn put_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
        Some(s) => {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn encode(r: &Rejection, out: &mut Vec<u8>) {
    out.clear();
    let segment = r.segment.map(|s| s.to_string());
    for s in [
        Some(r.file.as_str()),
        segment.as_deref(),
        r.order.as_deref(),
        r.field.as_deref(),
        Some(r.reason.as_str()),
    ] {
        put_str(out, s);
    }
}

fn decode(line: usize, mut blob: &[u8]) -> Rejection {
    let mut next = || -> Option<String> {
        let (len, rest) = blob.split_at_checked(4)?;
        let len = u32::from_le_bytes(len.try_into().ok()?);
        if len == u32::MAX {
            blob = rest;
            return None;
        }
        let (s, rest) = rest.split_at_checked(len as usize)?;
        blob = rest;
        Some(String::from_utf8_lossy(s).into_owned())
    };
    let file = next().unwrap_or_default();
    let segment = next().and_then(|s| s.parse().ok());
    let order = next();
    let field = next();
    let reason = next().unwrap_or_default();
    Rejection {
        file,
        line,
        segment,
        order,
        field,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_come_back_whole_in_line_order() {
        let r = |line: usize, order: Option<&str>, segment: Option<usize>| Rejection {
            file: "f.csv".into(),
            line,
            segment,
            order: order.map(str::to_string),
            field: Some("lines[0].item_number".into()),
            reason: "unknown item \"É\"".into(),
        };
        let given = [
            r(9, Some("B"), None),
            r(2, None, Some(4)),
            r(9, Some("A"), None),
        ];
        let mut rejections = FileRejections::new();
        for g in &given {
            rejections.add(g).unwrap();
        }
        assert_eq!(rejections.len(), 3);
        let mut got = Vec::new();
        rejections
            .for_each(|r| {
                got.push(r);
                Ok(())
            })
            .unwrap();
        assert_eq!(got, [given[1].clone(), given[0].clone(), given[2].clone()]);
    }
}
