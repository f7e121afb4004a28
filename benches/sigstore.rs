//! Sigstore bundle verification, in process (criterion): a trusted root
//! parsed, and a Rekor v2 bundle (`rekor2-happy-path` of the conformance
//! suite: certificate chain, SCT, hashedrekord 0.0.2 entry, inclusion proof
//! against an Ed25519 checkpoint, RFC 3161 timestamp) verified for its
//! artifact, with bt-exec's own checks before and after the verifier's.
//!
//! And what `bt-log monitor --rekor` does with each Rekor v2 entry: a
//! hashedrekord body decoded strictly, its certificate read and its ECDSA
//! signature checked over the logged digest (fixtures/rekor-entries/).
//!
//! ```sh
//! cargo bench --bench sigstore
//! ```
//! Reads `../shared/vectors/sigstore/conformance/bundle-verify/`; says so
//! and measures nothing when it is not there. The whole process (`bt-exec
//! verify --sigstore-bundle`, cold) is timed with hyperfine:
//! docs/BENCHMARKS.md, "Sigstore bundles".

use criterion::{criterion_group, criterion_main, Criterion};

use bt_exec::sigstore::{self, material, Artifact, Expect, TrustRoot};

const ID: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn monitor_entry(c: &mut Criterion) {
    use bt_exec::monitor::rekor::entry::RekorEntry;
    let body = include_bytes!("../fixtures/rekor-entries/hashedrekord-email.json");
    c.bench_function("rekor v2 entry decoded and its signature checked", |b| {
        b.iter(|| RekorEntry::decode(body).map(|e| e.signatures_checked))
    });
}

fn bench(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/vectors/sigstore/conformance/bundle-verify");
    let case = dir.join("rekor2-happy-path");
    let (Ok(root_text), Ok(bundle), Ok(artifact)) = (
        std::fs::read(case.join("trusted_root.json")),
        std::fs::read(case.join("bundle.sigstore.json")),
        std::fs::read(dir.join("a.txt")),
    ) else {
        eprintln!("SKIP sigstore bench: {} not found", case.display());
        return;
    };
    c.bench_function("trusted root parsed", |b| {
        b.iter(|| TrustRoot::parse(&root_text).map(|r| r.logs.len()))
    });
    let root = TrustRoot::parse(&root_text).unwrap_or_else(|e| panic!("{e}"));
    let expect = Expect::Exact {
        san: ID,
        issuer: ISSUER,
    };
    c.bench_function("rekor v2 bundle read and verified", |b| {
        b.iter(|| {
            let m = material::prepare(&bundle).unwrap_or_else(|e| panic!("{e}"));
            sigstore::verify(&root, &m, Artifact::Bytes(&artifact), expect)
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
}

criterion_group!(benches, bench, monitor_entry);
criterion_main!(benches);
