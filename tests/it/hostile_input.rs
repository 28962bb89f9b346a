//! Bounded fuzzing that runs with every test run: each sample, damaged in many
//! deterministic ways (bit flips, truncation, spliced bytes, repeated chunks), goes
//! through the parser family that reads it. A parser must return, never panic. Deeper,
//! open-ended runs use the cargo-fuzz targets in fuzz/ (see docs/development.md).

use crate::common;
use caregate_schemas::FindingCode;

use caregate_extract::fuzz;

/// A small deterministic generator (xorshift64*): the same mutations on every run, so a
/// failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        if v.is_empty() {
            v.push(0);
        }
        match rng.below(5) {
            0 => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.truncate(rng.below(v.len())),
            2 => {
                let i = rng.below(v.len());
                let bytes: &[u8] = [&b"<<"[..], b"[", b"(", b"<a>", b"&lol;", b"\xff\xfe", b"0 0 obj", b"PK\x03\x04"][rng.below(8)];
                v.splice(i..i, bytes.iter().copied());
            }
            3 => {
                let (a, b) = (rng.below(v.len()), rng.below(v.len()));
                let (a, b) = (a.min(b), a.max(b).min(a + 4096));
                let chunk = v[a..b].to_vec();
                v.splice(a..a, chunk);
            }
            _ => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
        }
    }
    v
}

const ROUNDS: usize = 150;

#[test]
fn damaged_samples_never_crash_a_parser() {
    let mut rng = Rng(0x6361_7265_6761_7465);
    let files = caregate::accuracy::files_under(&common::samples_dir()).unwrap();
    let expected = caregate::accuracy::load_expected(&common::samples_dir()).unwrap();
    let mut runs = 0;
    for path in files {
        // A sample made to exhaust the memory of whatever reads it in-process (this test
        // does) is read by workers in a child process; `isolation` shows that they survive it.
        let rel = path.strip_prefix(common::samples_dir()).unwrap().to_string_lossy().into_owned();
        if expected.get(&rel).is_some_and(|e| e.findings.contains(&FindingCode::MemoryLimit)) {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let entry: fn(&[u8]) = match ext.as_str() {
            _ if data.starts_with(b"%PDF") => fuzz::pdf,
            "xml" | "nessus" => fuzz::xml,
            "xlsx" | "ods" | "csv" => fuzz::sheet,
            _ if data.starts_with(b"PK") => fuzz::zip,
            _ => fuzz::text,
        };
        entry(&data);
        for _ in 0..ROUNDS {
            let damaged = mutate(&mut rng, &data);
            let result = std::panic::catch_unwind(|| {
                entry(&damaged);
                fuzz::text(&damaged);
            });
            if result.is_err() {
                let out = std::env::temp_dir().join(format!("caregate-crash-{}", path.file_name().unwrap().to_string_lossy()));
                std::fs::write(&out, &damaged).unwrap();
                panic!("a parser panicked on a damaged {}; input kept in {}", path.display(), out.display());
            }
            runs += 1;
        }
    }
    assert!(runs >= 30 * ROUNDS, "{runs} runs");
}

/// A PDF made of `objects` (numbered from 1, object 1 the catalog), with a valid xref.
fn raw_pdf(objects: &[String]) -> Vec<u8> {
    let mut body = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(body.len());
        body.extend(format!("{} 0 obj\n{o}\nendobj\n", i + 1).bytes());
    }
    let xref = body.len();
    body.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for o in offsets {
        body.extend(format!("{o:010} 00000 n \n").bytes());
    }
    body.extend(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).bytes());
    body
}

/// Deep nesting is the classic way to abort a parser with a stack overflow, which no
/// `catch_unwind` can catch (lopdf issue #502). Both kinds of depth — nested arrays in one
/// object, and a page tree nested through references — must end as a result.
#[test]
fn deeply_nested_pdfs_do_not_overflow_the_stack() {
    let arrays = format!("<< /Type /Catalog /X {}{} >>", "[".repeat(100_000), "]".repeat(100_000));
    fuzz::pdf(&raw_pdf(&[arrays]));

    const LEVELS: usize = 100_000;
    let mut objects = vec!["<< /Type /Catalog /Pages 2 0 R >>".to_owned()];
    for i in 0..LEVELS {
        let id = i + 2;
        objects.push(format!("<< /Type /Pages /Kids [{} 0 R] /Count 1 >>", id + 1));
    }
    objects.push(format!("<< /Type /Page /Parent {} 0 R /MediaBox [0 0 10 10] >>", LEVELS + 1));
    // The worker reads on a thread with a 256 MiB stack; so does this test.
    let data = raw_pdf(&objects);
    std::thread::Builder::new().stack_size(256 * 1024 * 1024).spawn(move || fuzz::pdf(&data)).unwrap().join().unwrap();
}
