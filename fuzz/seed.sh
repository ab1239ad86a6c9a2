#!/usr/bin/env bash
# Builds the seed corpora in fuzz/corpus/<target>/ from the committed vectors in spec/vectors/
# (marks, trust lists, QR texts, files/) and from the Token Status List draft's vectors in
# ../shared/vectors/token-status-list/ when that directory is there. The corpora are not
# committed (.gitignore); rerunning writes the seeds again (same names, same bytes) and keeps
# whatever fuzzing added.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

shared=../../shared/vectors/token-status-list

python3 - "$shared" <<'EOF'
import json, pathlib, re, sys

shared = pathlib.Path(sys.argv[1])
vectors = pathlib.Path("../spec/vectors")
corpus = pathlib.Path("corpus")
counts = {}


def put(target, name, data):
    directory = corpus / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"seed-{name}").write_bytes(data)
    counts[target] = counts.get(target, 0) + 1


def head(data, pos):
    """Major type, argument and content offset of the CBOR item at pos."""
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    if info < 24:
        return major, info, pos + 1
    width = {24: 1, 25: 2, 26: 4, 27: 8}[info]
    return major, int.from_bytes(data[pos + 1 : pos + 1 + width], "big"), pos + 1 + width


def payload(token):
    """The payload of a (tagged) COSE_Sign1, or None if it does not look like one."""
    try:
        major, arg, pos = head(token, 0)
        if major == 6:
            major, arg, pos = head(token, pos)
        if major != 4 or arg != 4:
            return None
        for index in range(3):
            major, arg, content = head(token, pos)
            if index == 2:
                return token[content : content + arg] if major == 2 else None
            if major == 2:
                pos = content + arg
            elif major == 5 and arg == 0:
                pos = content
            elif major == 5 and index == 1:
                # A non-empty unprotected header (the draft's vectors carry the kid there): skip
                # simple key/value pairs of integers and byte strings.
                pos = content
                for _ in range(2 * arg):
                    m, a, c = head(token, pos)
                    pos = c + a if m in (2, 3) else c
            else:
                return None
    except (IndexError, KeyError):
        return None
    return None


def token_and_payload(target, name, token):
    put(target, name, token)
    inner = payload(token)
    if inner is not None:
        put(target, name + "-payload", inner)


def status_list_input(index, document):
    # status_list target input: a two-byte little-endian entry index, then the document.
    return index.to_bytes(2, "little") + document


marks = json.loads((vectors / "marks.json").read_text())
for case in marks["cases"]:
    token = bytes.fromhex(case["token"])
    token_and_payload("mark_decode", case["name"], token)
    put("verify", case["name"], token)
token_and_payload("trust_list", "marks-json", bytes.fromhex(marks["trust_list"]))
trust_lists = json.loads((vectors / "trust-lists.json").read_text())
for case in trust_lists["cases"]:
    token_and_payload("trust_list", case["name"], bytes.fromhex(case["trust_list"]))
token_and_payload("trust_list", "file", (vectors / "files/trust-list.cbor").read_bytes())
for name in ("typical-mark", "revoked-mark"):
    mark = (vectors / f"files/{name}.cbor").read_bytes()
    token_and_payload("mark_decode", f"file-{name}", mark)
    put("verify", f"file-{name}", mark)

qr = json.loads((vectors / "qr-text.json").read_text())
for case in qr["cases"]:
    put("qr_text", case["name"], case["text"].encode())
    if case.get("bytes"):
        put("qr_text", case["name"] + "-bytes", bytes.fromhex(case["bytes"]))

status_documents = []
if shared.is_dir():
    for path in sorted(shared.glob("*.md")):
        if not (path.name.endswith("_cbor.md") or path.name.endswith("_cwt.md")):
            continue
        hex_text = "".join(
            line.strip() for line in path.read_text().splitlines()
            if re.fullmatch(r"[0-9a-f]+", line.strip())
        )
        if hex_text:
            status_documents.append((path.stem, bytes.fromhex(hex_text)))
else:
    print(f"seed.sh: {shared} not found; no Token Status List draft vectors", file=sys.stderr)
status_documents.append(("file-status-list", (vectors / "files/status-list.cwt").read_bytes()))
for name, document in status_documents:
    inner = payload(document)
    for index in (0, 5, 1000):
        put("status_list", f"{name}-{index}", status_list_input(index, document))
        if inner is not None:
            put("status_list", f"{name}-payload-{index}", status_list_input(index, inner))
    if inner is not None:
        put("verify", name, document)

# responses: the first byte chooses the format (0 CSV, 1 XLSX, 2 JSON), the rest is the file.
import io, zipfile

csv = b"requirement,response,evidence,justification\n1,C,PW-1,\n2,P,,rollout\n3,NA,,none\n"
put("responses", "psti-csv", b"\x00" + csv)
put("responses", "quoted-csv", b"\x00" + b'Requirement,Response\n"2.4.3.1","Compliant"\n\n"x\ny",N\n')
put("responses", "psti-json", b"\x02" + b'{"framework": "uk-psti", "target_class": 1, "responses": '
    b'[{"requirement": "1", "response": "C", "evidence": "E"}, {"requirement": "2", "response": "N"}]}')
put("responses", "bare-json", b"\x02" + b'[{"requirement": "5.1-1", "response": "NA", "justification": "no passwords"}]')
parts = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="R" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
    "xl/sharedStrings.xml": '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2"><si><t>requirement</t></si><si><t>response</t></si></sst>',
    "xl/worksheets/sheet1.xml": '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
        '<row r="2"><c r="A2"><v>1</v></c><c r="B2" t="inlineStr"><is><t>C</t></is></c><c r="C2" t="inlineStr"><is><t>EV</t></is></c></row>'
        '</sheetData></worksheet>',
}
for method, name in ((zipfile.ZIP_DEFLATED, "xlsx"), (zipfile.ZIP_STORED, "xlsx-stored")):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for part, text in parts.items():
            archive.writestr(zipfile.ZipInfo(part, (1980, 1, 1, 0, 0, 0)), text, compress_type=method)
    put("responses", name, b"\x01" + buffer.getvalue())

# Signing requests made by OpenSSL (Ed25519 and P-256), as DER (the target wraps DER in PEM).
import subprocess, tempfile
with tempfile.TemporaryDirectory() as scratch:
    for name, genpkey in (("ed25519", ["-algorithm", "ed25519"]),
                          ("p256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])):
        key = f"{scratch}/{name}.pem"
        try:
            subprocess.run(["openssl", "genpkey", *genpkey, "-out", key], check=True, capture_output=True)
            der = subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/O=Acme Ltd/CN=Acme Test Lab",
                                  "-outform", "DER"], check=True, capture_output=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"seed.sh: csr: no OpenSSL seed ({e})", file=sys.stderr)
            continue
        put("csr", name, der)

for target in sorted(counts):
    print(f"seed.sh: {target}: {counts[target]} seeds")
EOF
