//! Hostile XLSX workbooks for the hostile-input tests and `bench-hostile`: zip archives written
//! by hand (PKWARE APPNOTE 4.3: local headers, central directory, end record; no zip64), since a
//! zip writer library will not let an archive lie about its sizes.
//!
//! A decompression bomb needs no gigabyte of input: a raw deflate stream of 1 MiB of spaces (or
//! of any short unit repeated), cut with a sync flush, only refers back into its own bytes, so
//! repeating it N times inflates to N MiB of the same; a final block ends the stream.

#![allow(clippy::panic)] // test support: a workbook that cannot be built must fail loudly

use std::io::Write;

use flate2::write::DeflateEncoder;
use flate2::Compression;

/// One part (file) of an archive, deflated.
#[derive(Debug, Clone)]
pub struct Part {
    name: String,
    deflated: Vec<u8>,
    crc: u32,
    /// The size it inflates to.
    size: u64,
    /// The size its headers declare.
    declared_size: u64,
}

/// Raw deflate of `data` from a fresh compressor: ended with a final block, or cut with a sync
/// flush (byte-aligned, not final) when `last` is false.
fn deflate(data: &[u8], last: bool) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
    let written = encoder.write_all(data).and_then(|()| {
        if last {
            encoder.try_finish()
        } else {
            encoder.flush()
        }
    });
    written.unwrap_or_else(|e| panic!("deflate: {e}"));
    encoder.get_ref().clone()
}

impl Part {
    /// A part holding `data`.
    pub fn new(name: &str, data: &[u8]) -> Self {
        let mut crc = crc32fast::Hasher::new();
        crc.update(data);
        Self {
            name: name.to_owned(),
            deflated: deflate(data, true),
            crc: crc.finalize(),
            size: data.len() as u64,
            declared_size: data.len() as u64,
        }
    }

    /// A part that inflates to `prefix`, `mebibytes` MiB of spaces, then `suffix`: about 1 KiB of
    /// deflate per MiB inflated.
    pub fn bomb(name: &str, prefix: &[u8], mebibytes: u32, suffix: &[u8]) -> Self {
        Self::bomb_of(name, prefix, b" ", mebibytes, suffix)
    }

    /// A part that inflates to `prefix`, `mebibytes` MiB of `unit` repeated (its length must
    /// divide 1 MiB, so that each MiB holds whole units), then `suffix`.
    pub fn bomb_of(name: &str, prefix: &[u8], unit: &[u8], mebibytes: u32, suffix: &[u8]) -> Self {
        assert!(
            !unit.is_empty() && (1 << 20) % unit.len() == 0,
            "the unit's length must divide 1 MiB"
        );
        let mib = unit.repeat((1 << 20) / unit.len());
        let block = deflate(&mib, false);
        let mut deflated = deflate(prefix, false);
        let mut crc = crc32fast::Hasher::new();
        crc.update(prefix);
        let mut one = crc32fast::Hasher::new();
        one.update(&mib);
        for _ in 0..mebibytes {
            deflated.extend_from_slice(&block);
            crc.combine(&one);
        }
        deflated.extend_from_slice(&deflate(suffix, true));
        crc.update(suffix);
        let size = prefix.len() as u64 + (u64::from(mebibytes) << 20) + suffix.len() as u64;
        Self {
            name: name.to_owned(),
            deflated,
            crc: crc.finalize(),
            size,
            declared_size: size,
        }
    }

    /// The same part with headers that declare `size` bytes inflated (a lie, if it differs).
    pub fn declaring(mut self, size: u64) -> Self {
        self.declared_size = size;
        self
    }

    /// The size it really inflates to.
    pub fn size(&self) -> u64 {
        self.size
    }
}

fn u16le(n: usize) -> [u8; 2] {
    u16::try_from(n)
        .unwrap_or_else(|_| panic!("{n} does not fit a zip field"))
        .to_le_bytes()
}

fn u32le(n: u64) -> [u8; 4] {
    u32::try_from(n)
        .unwrap_or_else(|_| panic!("{n} does not fit a zip field (no zip64 here)"))
        .to_le_bytes()
}

/// A zip archive of `parts`, deflated, dated 1980-01-01.
pub fn zip(parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for part in parts {
        let offset = out.len() as u64;
        let fields = |buf: &mut Vec<u8>| {
            // version needed 2.0, flags 0, method 8 (deflate), time 00:00, date 1980-01-01
            buf.extend_from_slice(&[20, 0, 0, 0, 8, 0, 0, 0, 0x21, 0]);
            buf.extend_from_slice(&part.crc.to_le_bytes());
            buf.extend_from_slice(&u32le(part.deflated.len() as u64));
            buf.extend_from_slice(&u32le(part.declared_size));
            buf.extend_from_slice(&u16le(part.name.len()));
            buf.extend_from_slice(&[0, 0]); // extra field length
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        fields(&mut out);
        out.extend_from_slice(part.name.as_bytes());
        out.extend_from_slice(&part.deflated);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 0]); // version made by
        fields(&mut central);
        // comment length, disk, internal and external attributes
        central.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        central.extend_from_slice(&u32le(offset));
        central.extend_from_slice(part.name.as_bytes());
    }
    let central_offset = out.len() as u64;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // this disk, the central directory's disk
    out.extend_from_slice(&u16le(parts.len()));
    out.extend_from_slice(&u16le(parts.len()));
    out.extend_from_slice(&u32le(central.len() as u64));
    out.extend_from_slice(&u32le(central_offset));
    out.extend_from_slice(&[0, 0]); // comment length
    out
}

/// The start of a worksheet, up to its first row.
pub const SHEET_START: &[u8] = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#;
/// The end of a worksheet.
pub const SHEET_END: &[u8] = b"</sheetData></worksheet>";

/// The parts every workbook has besides its sheet: content types, relationships, the workbook.
pub fn frame() -> Vec<Part> {
    let text = |name: &str, body: &str| Part::new(name, body.as_bytes());
    vec![
        text(
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
        ),
        text(
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
        ),
        text(
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Responses" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        ),
        text(
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
        ),
    ]
}

/// A workbook whose first sheet is `sheet` (a part named `xl/worksheets/sheet1.xml`), with
/// `more` parts after it.
pub fn workbook(sheet: Part, more: Vec<Part>) -> Vec<u8> {
    let mut parts = frame();
    parts.push(sheet);
    parts.extend(more);
    zip(&parts)
}

/// A sheet of inline-string rows (the first is the header).
pub fn sheet(rows: &[&[&str]]) -> Part {
    let mut xml = SHEET_START.to_vec();
    for (r, cells) in rows.iter().enumerate() {
        let _ = write!(xml, r#"<row r="{}">"#, r + 1);
        for (c, text) in cells.iter().enumerate() {
            let column = char::from(b'A' + u8::try_from(c).unwrap_or(25));
            let _ = write!(
                xml,
                r#"<c r="{column}{}" t="inlineStr"><is><t>{text}</t></is></c>"#,
                r + 1
            );
        }
        xml.extend_from_slice(b"</row>");
    }
    xml.extend_from_slice(SHEET_END);
    Part::new("xl/worksheets/sheet1.xml", &xml)
}
