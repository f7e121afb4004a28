//! One program's verification as a bt-exec command asks for it: where the
//! proof comes from (a `.tlog-proof` sidecar beside the program, a Sigsum
//! proof — docs/SIGSUM.md — or the policy's logs alone), the verdict, and
//! the warm verdict (src/exec/memo.rs) a proven run may leave.

use std::path::{Path, PathBuf};

use crate::exec::app::{self, Fail};
use crate::exec::memo;
use crate::policy::{LogSpec, Mode, Policy, Quorum, TrustPolicy};
use crate::store::{Ingested, Store};
use crate::tlog::MAX_PROOF_BYTES;
use crate::verify::{self, exit, Verdict};

/// What the command asks of the verification of one program.
pub struct Request<'a> {
    pub policy: &'a Policy,
    /// The policy text's digest, when that text says everything the policy
    /// says (a warm verdict is keyed by it).
    pub policy_digest: Option<[u8; 32]>,
    pub store: &'a Store,
    /// The program's path (its sidecars are found beside it).
    pub path: &'a Path,
    pub offline: bool,
    pub verbose: bool,
    /// Whether a proven verdict may be remembered as a warm verdict: the
    /// program is to run and the flags allow it
    /// (`crate::cli::CommonArgs::may_serve_warm`).
    pub may_memo: bool,
    pub sigsum: &'a SigsumFlags,
    /// `--sigstore-bundle`.
    pub sigstore_bundle: Option<&'a Path>,
    /// The release name the program was run by (`NAME@VERSION`): the
    /// `[[sigstore.identity]]` entries bound to names apply only then.
    pub release: Option<&'a str>,
}

/// What `--sigsum-proof`, `--sigsum-policy` and `--sigsum-key` gave.
#[derive(Debug, Default, Clone)]
pub struct SigsumFlags {
    pub sigsum_proof: Option<PathBuf>,
    pub sigsum_policy: Option<String>,
    pub sigsum_keys: Vec<String>,
}

/// Whether `verify --sigsum-proof P --sigsum-policy Q --sigsum-key K`
/// stands alone: it needs no bt-exec policy (none is given or found).
pub fn standalone(policy_flag: Option<&Path>, sigsum: &SigsumFlags) -> bool {
    sigsum.sigsum_proof.is_some()
        && sigsum.sigsum_policy.is_some()
        && !sigsum.sigsum_keys.is_empty()
        && policy_flag.is_none()
        && Policy::locate(None).map_or(true, |p| !p.exists())
}

/// The empty policy a standalone Sigsum verification runs under.
pub fn standalone_policy() -> Policy {
    Policy {
        path: PathBuf::from("(none)"),
        rebuilders: vec![],
        sigsum: None,
        sigstore: None,
        trust: TrustPolicy {
            logs: vec![],
            witnesses: vec![],
            quorum: Quorum::None,
        },
        publishers: vec![],
        require: Default::default(),
        mode: Mode::Enforce,
        expires: None,
    }
}

/// The proof files beside `path`: `PROGRAM.tlog-proof`, and in
/// `PROGRAM.tlog-proofs/` the file named for each log of the policy (by
/// its key hash; other files there are not read).
fn sidecars(path: &Path, policy: &Policy) -> Result<verify::Sidecars, Fail> {
    let single = sidecar(path, crate::fsutil::beside(path, ".tlog-proof"))?;
    let dir = crate::fsutil::beside(path, ".tlog-proofs");
    let Ok(meta) = std::fs::symlink_metadata(&dir) else {
        return Ok(verify::Sidecars::single(single));
    };
    // Present but not a directory (a link, a FIFO): present, so never a
    // fallback to the logs.
    if !meta.is_dir() {
        return Err(Fail::new(
            exit::REFUSED,
            format!(
                "refused {}: {} is not a directory",
                path.display(),
                dir.display()
            ),
        ));
    }
    let per_log = policy
        .trust
        .logs
        .iter()
        .map(|l| sidecar(path, dir.join(format!("{}.tlog-proof", l.id.key_hash()))))
        .collect::<Result<_, _>>()?;
    Ok(verify::Sidecars {
        single,
        per_log,
        rekor: None,
    })
}

/// The proof file at `sidecar_path` beside `path`, when there is one. One
/// that is not a regular file (a FIFO planted to hang bt-exec, a device, a
/// directory) is refused at once (126: present, so never a fallback to the
/// logs).
fn sidecar(path: &Path, sidecar_path: PathBuf) -> Result<Option<(PathBuf, Vec<u8>)>, Fail> {
    match crate::fsutil::read_optional(&sidecar_path, MAX_PROOF_BYTES) {
        Ok(Some(b)) => Ok(Some((sidecar_path, b))),
        // A link to nothing is a proof file that is not a regular file, not
        // an absent one (the warm path treats it so too).
        Ok(None) if std::fs::symlink_metadata(&sidecar_path).is_ok() => Err(Fail::new(
            exit::REFUSED,
            format!(
                "refused {}: its proof file {} is a symbolic link to nothing",
                path.display(),
                sidecar_path.display()
            ),
        )),
        Ok(None) => Ok(None),
        Err(e) => match crate::fsutil::not_regular(&e) {
            Some(nr) => Err(Fail::new(
                exit::REFUSED,
                format!("refused {}: its proof file {nr}", path.display()),
            )),
            // Present but unreadable or too large: a refusal, never a fallback.
            None => Ok(Some((sidecar_path, e.to_string().into_bytes()))),
        },
    }
}

/// Verifies `file`, the bytes of `req.path`. Returns the verdict and, when
/// this run may leave a warm verdict once proven, what it depends on.
pub fn verify(req: &Request, file: Ingested) -> Result<(Verdict, Option<memo::Pending>), Fail> {
    let sidecars = sidecars(req.path, req.policy)?;
    let ctx = app::context(req.policy, req.store, req.offline);
    let sigstore_path = match req.sigstore_bundle {
        Some(p) => Some(p.to_path_buf()),
        // Present in any form (a link to nothing, a FIFO) is present: read,
        // and refused when it cannot be.
        None => Some(crate::fsutil::beside(req.path, ".sigstore.json"))
            .filter(|p| req.policy.sigstore.is_some() && std::fs::symlink_metadata(p).is_ok()),
    };
    let sigsum_path = match &req.sigsum.sigsum_proof {
        Some(p) => Some(p.clone()),
        None => Some(crate::fsutil::beside(req.path, ".sigsum-proof"))
            .filter(|p| req.policy.sigsum.is_some() && p.exists()),
    };
    // What a warm verdict depends on is read before the verification reads it.
    let pending = req
        .policy_digest
        .filter(|_| {
            req.may_memo && sidecars.is_empty() && sigsum_path.is_none() && sigstore_path.is_none()
        })
        .and_then(|d| memo::pending(req.store, req.policy, d));
    // Never past a split view: a proof from outside the logs does not
    // walk around a standing alarm either.
    let alarm = (sigstore_path.is_some() || sigsum_path.is_some())
        .then(|| standing_alarm(req.store, req.policy))
        .flatten();
    let verdict = match (sigstore_path, sigsum_path, alarm) {
        (_, _, Some((spec, evidence))) => alarm_verdict(file, spec, evidence),
        (Some(bundle), _, None) => sigstore(&ctx, req.release, file, &bundle, sidecars)?,
        (None, Some(proof_path), None) => sigsum(req, file, &proof_path)?,
        (None, None, None) => verify::verify(&ctx, file, sidecars),
    };
    Ok((verdict, pending))
}

/// The first of the policy's logs with a standing split-view alarm, and
/// where its evidence is.
pub fn standing_alarm<'p>(store: &Store, policy: &'p Policy) -> Option<(&'p LogSpec, String)> {
    policy
        .trust
        .logs
        .iter()
        .find_map(|l| store.alarm(&l.id).map(|ev| (l, ev)))
}

/// 123: a log of the policy showed a split view and nobody has cleared
/// its alarm. Attack stopped: a log operator who forked a log, and a
/// program proven by a Sigsum proof or a Sigstore bundle run as if the
/// machine had not seen it.
pub fn alarm_verdict(file: Ingested, spec: &LogSpec, evidence: String) -> Verdict {
    let msg = format!(
        "a split view of {} was recorded earlier ({evidence}); every run is refused until a person runs `bt-exec alarm clear {}`",
        spec.label, spec.origin
    );
    let report = verify::LogReport::new(
        spec,
        verify::LogOutcome::Misbehaved {
            msg: msg.clone(),
            evidence: Some(PathBuf::from(evidence)),
        },
    );
    Verdict::of_one(file, report, msg, std::time::Instant::now())
}

/// The verdict of the Sigstore bundle(s) at `bundle_path` for `file`, under
/// the policy's `[sigstore]` section (125 without one: there is no trusted
/// root to verify against). `file` with no CAS path is a digest alone
/// (`verify --sha256`).
///
/// When the policy lists a Rekor log of the trusted root (a `log` line for
/// it), the bundle is a proof for that log, one of the policy's logs: the
/// verdict is theirs together ([`verify::verify`]), its checkpoint held to
/// the witnesses, freshness and consistency, and counted toward
/// `require.logs`. Otherwise the bundle alone decides
/// ([`verify::sigstore_verdict`]). The policy chooses, never the bundle:
/// one from a log the policy does not list proves nothing in its Rekor
/// logs.
pub fn sigstore(
    ctx: &verify::Context,
    release: Option<&str>,
    file: Ingested,
    bundle_path: &Path,
    mut sidecars: verify::Sidecars,
) -> Result<Verdict, Fail> {
    let policy = ctx.policy;
    use crate::exec::bundle::{read_artifact, read_bundles, OwnedArtifact};
    let section = policy.sigstore.as_ref().ok_or_else(|| {
        Fail::new(
            exit::CONFIG,
            "a Sigstore bundle needs a [sigstore] section in the policy: its trusted_root, and who may sign ([[sigstore.identity]])",
        )
    })?;
    // The program's bytes, from the cache's copy, only when a signature
    // needs them (and not when only a digest was given: `verify --sha256`).
    let cas = file.cas_path.clone();
    let read = move || match read_artifact(&cas) {
        Ok(OwnedArtifact::Bytes(b)) => Some(b),
        _ => None,
    };
    let bytes: Option<&dyn Fn() -> Option<Vec<u8>>> =
        (!file.cas_path.as_os_str().is_empty()).then_some(&read);
    let signers = section.signers_for(release);
    let req = verify::BundleRequest {
        bundle_path,
        bundles: read_bundles(bundle_path),
        artifact: crate::sigstore::Artifact::Sha256 {
            sha256: file.sha256,
            bytes,
        },
        section,
        signers: &signers,
    };
    if policy.rekor_logs().next().is_none() {
        return Ok(verify::sigstore_verdict(file, policy, req));
    }
    sidecars.rekor = Some(verify::rekor_proof(&file.sha256, &req));
    Ok(verify::verify(ctx, file, sidecars))
}

/// The verdict of a Sigsum proof at `proof_path`, under `--sigsum-policy`
/// or the policy's `[sigsum]` section, for the keys `--sigsum-key` gives or
/// that section allows for the program's file name.
fn sigsum(req: &Request, file: Ingested, proof_path: &Path) -> Result<Verdict, Fail> {
    let section = req.policy.sigsum.as_ref();
    let sigsum_policy = match (&req.sigsum.sigsum_policy, section) {
        (Some(spec), _) => crate::sigsum_interop::load_policy(spec, Path::new("."))
            .map_err(|e| Fail::new(exit::CONFIG, e))?,
        (None, Some(s)) => s.policy.clone(),
        (None, None) => {
            return Err(Fail::new(
                exit::CONFIG,
                "a Sigsum proof needs a Sigsum policy: --sigsum-policy, or [sigsum] policy in the bt-exec policy",
            ))
        }
    };
    let keys = if req.sigsum.sigsum_keys.is_empty() {
        let file_name = req
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        section.map(|s| s.keys_for(&file_name)).unwrap_or_default()
    } else {
        req.sigsum
            .sigsum_keys
            .iter()
            .map(|k| crate::sigsum_interop::parse_key(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Fail::new(exit::CONFIG, e))?
    };
    if let Some(rule) = rules_a_sigsum_proof_cannot_meet(req.policy) {
        return Ok(verify::refused_verdict(
            file,
            "sigsum",
            verify::Cause::ReleaseHistory,
            format!(
                "{}: a Sigsum proof alone does not meet this policy: it requires {rule}, and a Sigsum proof carries no release name, publisher or history and is one log",
                proof_path.display()
            ),
        ));
    }
    let proof = crate::fsutil::read_capped(proof_path, crate::sigsum_interop::MAX_PROOF_BYTES)
        .map_err(|e| Fail::new(exit::REFUSED, format!("{}: {e}", proof_path.display())))?;
    Ok(verify::sigsum_verdict(
        file,
        proof_path,
        &proof,
        &keys,
        &sigsum_policy,
    ))
}

/// The `[require]` rules of `policy` a Sigsum proof cannot meet, named
/// (`None`: none is set).
///
/// Attack stopped: a `.sigsum-proof` planted beside a program walking
/// around `latest`, `no_downgrade`, `prior_revisions`, `min_release_age`,
/// `rebuilders` or `logs = k` in a policy that has both `trust` and
/// `[sigsum]`. A Sigsum leaf names no release, so no history rule can be
/// checked against it, and it is one log; so a policy with such rules is
/// not met by a Sigsum proof alone (docs/SIGSUM.md).
pub fn rules_a_sigsum_proof_cannot_meet(policy: &Policy) -> Option<String> {
    policy.require.unmet_by_one_outside_proof()
}

/// What bt-exec does with a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// Proven: it runs (or `verify` answers 0).
    Run,
    /// Not proven, but audit mode runs it anyway with a warning; `cause`
    /// is the audit summary's name for why ([`crate::exec::audit::cause`]).
    AuditRun { cause: &'static str },
    /// Refused with the verdict's exit code.
    Refuse,
}

/// Decides what a verdict does: in audit mode (`--audit`, or `mode =
/// "audit"`) a program that is to run runs with a warning when it is not
/// proven — but never past a split view. Attack stopped: a log operator
/// who forks the log cannot use a fleet still in audit mode to run the
/// forked release silently; 123 is never downgraded to a warning.
pub fn judge(audit: bool, runs: bool, v: &Verdict) -> Judgement {
    if v.proven() {
        Judgement::Run
    } else if audit && runs && v.code != exit::MISBEHAVIOUR {
        Judgement::AuditRun {
            cause: crate::exec::audit::cause(v),
        }
    } else {
        Judgement::Refuse
    }
}
