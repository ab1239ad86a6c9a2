//! Writes the hostile uploads of the hostile-input tests into a directory, for
//! `scripts/bench-hostile`: one file each, and `index.tsv` with one line per file:
//! `file`, content type, expected status, expected code, name.

use std::io::Write as _;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: hostile-uploads DIR"))?;
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    let mut index = std::fs::File::create(dir.join("index.tsv"))?;
    for (i, upload) in trustmark_e2e::hostile::uploads().iter().enumerate() {
        let file = format!("upload-{i:02}");
        std::fs::write(dir.join(&file), &upload.body)?;
        writeln!(
            index,
            "{file}\t{}\t{}\t{}\t{}",
            upload.content_type, upload.status, upload.code, upload.name
        )?;
    }
    Ok(())
}
