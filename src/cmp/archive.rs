//! Receiving an application: the client stream (metadata, then archive chunks) is read
//! with a size limit and a SHA-256 check (docs/cmp-protocol.md §3), then the tar.gz
//! is unpacked into the request's work dir (§5) with stricter rules than
//! argocd-cmp-server: no entry may land outside the work dir (`..`, absolute names,
//! symlinks whose target resolves outside, links to the root), hard links, devices
//! and FIFOs are refused, nothing is written through a symlink, and archive bytes,
//! extracted bytes and entry count are bounded. Every refusal names the entry.

use crate::cmp::error::{Code, Failure, Phase};
use crate::cmp::proto::{app_stream_request, AppStreamRequest, ManifestRequestMetadata};
use sha2::{Digest, Sha256};
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use tokio_stream::{Stream, StreamExt};

/// Bounds on one request's archive (defaults sized for large monorepos).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Compressed bytes received.
    pub max_archive_bytes: u64,
    /// Sum of the sizes of extracted files (also bounds the decompressed stream).
    pub max_extracted_bytes: u64,
    /// Number of tar entries.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_archive_bytes: 256 << 20, max_extracted_bytes: 1 << 30, max_entries: 100_000 }
    }
}

/// What the client sent: its metadata and the verified archive bytes.
#[derive(Debug)]
pub struct Received {
    /// The first message of the stream.
    pub metadata: ManifestRequestMetadata,
    /// The compressed archive, checksum verified.
    pub archive: Vec<u8>,
}

/// What extraction produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Tar entries processed.
    pub entries: u64,
    /// Bytes written to regular files.
    pub bytes: u64,
    /// Some file contains the word `sops`: the app may hold encrypted data, so its
    /// rendered output is not cached unless the operator allows it.
    pub mentions_sops: bool,
}

/// Reads metadata then chunks until the client half-closes, hashing as it goes.
pub async fn receive<S>(mut stream: S, limits: &Limits) -> Result<Received, Failure>
where
    S: Stream<Item = Result<AppStreamRequest, tonic::Status>> + Unpin,
{
    let fail = |detail: String| Failure::new(Phase::Receive, detail);
    let metadata = match stream.next().await {
        None => return Err(fail("error receiving stream header: EOF".into())),
        Some(Err(status)) => {
            return Err(fail(format!("error receiving stream header: {}", status.message())).with_code(code_of(&status)))
        }
        Some(Ok(AppStreamRequest { request: Some(app_stream_request::Request::Metadata(m)) })) => m,
        Some(Ok(_)) => return Err(fail("error getting stream metadata: metadata is nil".into())),
    };
    let mut archive = Vec::new();
    let mut hasher = Sha256::new();
    while let Some(message) = stream.next().await {
        let chunk = match message {
            Ok(AppStreamRequest { request: Some(app_stream_request::Request::File(f)) }) => f.chunk,
            Ok(_) => return Err(fail("error receiving tgz file: stream request file is nil".into())),
            Err(status) => {
                return Err(fail(format!("error receiving tgz file: stream context error: {}", status.message()))
                    .with_code(code_of(&status)))
            }
        };
        if archive.len() as u64 + chunk.len() as u64 > limits.max_archive_bytes {
            return Err(fail(format!(
                "error receiving tgz file: archive is larger than the limit of {} bytes; raise --max-archive-bytes or exclude files with --plugin-tar-exclude on the repo-server",
                limits.max_archive_bytes
            ))
            .with_code(Code::ResourceExhausted));
        }
        hasher.update(&chunk);
        archive.extend_from_slice(&chunk);
    }
    let digest = hex(&hasher.finalize());
    if digest != metadata.checksum {
        let truncated = if metadata.size > 0 && (archive.len() as u64) < metadata.size as u64 {
            format!(" (stream truncated: received {} of {} bytes)", archive.len(), metadata.size)
        } else {
            String::new()
        };
        return Err(fail(format!(
            "error receiving tgz file: file checksum validation error: metadata says {:?}, received archive has {digest}{truncated}",
            metadata.checksum
        )));
    }
    Ok(Received { metadata, archive })
}

fn code_of(status: &tonic::Status) -> Code {
    match status.code() {
        tonic::Code::Cancelled => Code::Cancelled,
        tonic::Code::DeadlineExceeded => Code::DeadlineExceeded,
        _ => Code::Failed,
    }
}

/// Lower-case hex, as the client computes the checksum.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Unpacks a tar.gz into `root` (an existing, empty, canonical directory).
pub fn extract(archive: &[u8], root: &Path, limits: &Limits, preserve_file_mode: bool) -> Result<Extracted, Failure> {
    let fail = |detail: String| Failure::new(Phase::Extract, format!("error decompressing tgz file: {detail}"));
    let root = fs::canonicalize(root).map_err(|e| fail(format!("work dir {}: {e}", root.display())))?;
    // The decompressed stream is bounded too, so a gzip bomb of padding or of headers
    // without data stops early instead of burning CPU.
    let stream_cap = limits.max_extracted_bytes.saturating_add(limits.max_entries.saturating_mul(3 * 512));
    let gz = Capped { inner: flate2::read::MultiGzDecoder::new(archive), left: stream_cap, cap: stream_cap };
    let mut tar = tar::Archive::new(gz);
    let entries = tar.entries().map_err(|e| fail(format!("error reading file: {e}")))?;
    let mut done = Extracted::default();
    for entry in entries {
        let mut entry = entry.map_err(|e| fail(tar_error(e)))?;
        let name = entry.path().map_err(|e| fail(format!("error while iterating on tar reader: {e}")))?.into_owned();
        let shown = name.display().to_string();
        done.entries += 1;
        if done.entries > limits.max_entries {
            return Err(fail(format!(
                "archive has more than {} entries (at {shown:?}); raise --max-entries",
                limits.max_entries
            ))
            .with_code(Code::ResourceExhausted));
        }
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || kind.is_gnu_longname() {
            continue;
        }
        let Some(rel) =
            relative_name(&name).map_err(|why| fail(format!("illegal filepath in archive: {shown:?} {why}")))?
        else {
            continue;
        };
        let target = root.join(&rel);
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        if kind.is_dir() {
            create_dirs(&root, &target, preserve_file_mode.then_some(mode))
                .map_err(|d| fail(format!("{shown:?}: {d}")))?;
        } else if kind.is_symlink() {
            let link = entry
                .link_name()
                .map_err(|e| fail(format!("{shown:?}: unreadable symlink target: {e}")))?
                .ok_or_else(|| fail(format!("{shown:?}: symlink without a target")))?
                .into_owned();
            symlink(&root, &target, &link).map_err(|d| fail(format!("{shown:?}: {d}")))?;
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let size = entry.header().size().unwrap_or(0);
            if done.bytes.saturating_add(size) > limits.max_extracted_bytes {
                return Err(fail(format!(
                    "archive expands beyond the limit of {} extracted bytes (at {shown:?}); raise --max-extracted-bytes",
                    limits.max_extracted_bytes
                ))
                .with_code(Code::ResourceExhausted));
            }
            let parent = target.parent().unwrap_or(&root).to_path_buf();
            create_dirs(&root, &parent, None).map_err(|d| fail(format!("{shown:?}: {d}")))?;
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(if preserve_file_mode { mode } else { 0o644 })
                .custom_flags(libc::O_NOFOLLOW)
                .open(&target)
                .map_err(|e| {
                    if e.raw_os_error() == Some(libc::ELOOP) {
                        fail(format!("{shown:?}: refusing to write through a symlink"))
                    } else {
                        fail(format!("{shown:?}: cannot create file: {e}"))
                    }
                })?;
            let mut scan = Scan { inner: &mut file, carry: Vec::new(), found: false };
            let written = io::copy(&mut entry, &mut scan).map_err(|e| fail(format!("{shown:?}: {}", io_detail(e))))?;
            done.mentions_sops |= scan.found;
            if preserve_file_mode {
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                    .map_err(|e| fail(format!("{shown:?}: cannot set mode: {e}")))?;
            }
            done.bytes += written;
        } else if kind.is_hard_link() {
            return Err(fail(format!("{shown:?}: hard links are not allowed in the archive")));
        } else if kind.is_character_special() || kind.is_block_special() {
            return Err(fail(format!("{shown:?}: device files are not allowed in the archive")));
        } else if kind.is_fifo() {
            return Err(fail(format!("{shown:?}: FIFOs are not allowed in the archive")));
        } else {
            return Err(fail(format!("{shown:?}: unsupported tar entry type {:?}", kind.as_byte() as char)));
        }
    }
    Ok(done)
}

/// The entry name as a relative path of normal components; `None` for the root.
fn relative_name(name: &Path) -> Result<Option<PathBuf>, &'static str> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("leaves the work directory (\"..\")"),
            Component::RootDir | Component::Prefix(_) => return Err("is absolute"),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// `mkdir -p` below `root`, then checks that the result really is inside (an earlier
/// symlink entry could point anywhere inside, never outside).
fn create_dirs(root: &Path, dir: &Path, mode: Option<u32>) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create directory: {e}"))?;
    let real = fs::canonicalize(dir).map_err(|e| format!("cannot resolve directory: {e}"))?;
    if !real.starts_with(root) {
        return Err(format!("illegal filepath in archive: {} resolves outside the work directory", dir.display()));
    }
    if let Some(mode) = mode {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(|e| format!("cannot set mode: {e}"))?;
    }
    Ok(())
}

/// Creates `target -> link` after checking, from the link's real directory, that the
/// target stays strictly inside `root`.
fn symlink(root: &Path, target: &Path, link: &Path) -> Result<(), String> {
    if link.is_absolute() {
        return Err(format!("illegal filepath in symlink: absolute target {:?} is not allowed", link.display()));
    }
    let parent = target.parent().unwrap_or(root);
    create_dirs(root, parent, None)?;
    let real_parent = fs::canonicalize(parent).map_err(|e| format!("cannot resolve directory: {e}"))?;
    let lexical = crate::render::load::normalize(&real_parent.join(link));
    let resolved = match fs::canonicalize(&lexical) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => lexical.clone(),
        Err(e) => return Err(format!("error checking symlink realpath: {e}")),
    };
    if resolved == root || !resolved.starts_with(root) || !lexical.starts_with(root) || lexical == root {
        return Err(format!(
            "illegal filepath in symlink: target {:?} resolves outside the work directory",
            link.display()
        ));
    }
    std::os::unix::fs::symlink(link, target).map_err(|e| format!("error creating symlink: {e}"))
}

fn tar_error(e: io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<CapExceeded>()) {
        Some(c) => c.to_string(),
        None => format!("error while iterating on tar reader: {e}"),
    }
}

fn io_detail(e: io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<CapExceeded>()) {
        Some(c) => c.to_string(),
        None => format!("cannot write file: {e}"),
    }
}

/// A writer that also looks for `sops` in what passes through, across buffer edges.
struct Scan<'a, W> {
    inner: &'a mut W,
    carry: Vec<u8>,
    found: bool,
}

impl<W: io::Write> io::Write for Scan<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if !self.found {
            self.carry.extend_from_slice(&buf[..n]);
            self.found = self.carry.windows(4).any(|w| w == b"sops");
            let keep = self.carry.len().saturating_sub(3);
            self.carry.drain(..keep);
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("decompressed archive is larger than {0} bytes; raise --max-extracted-bytes")]
struct CapExceeded(u64);

/// A reader that fails once more than `cap` bytes have been read.
struct Capped<R> {
    inner: R,
    left: u64,
    cap: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One byte more than allowed tells "exactly at the cap" from "over it".
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(CapExceeded(self.cap))),
            };
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        let tar = b.into_inner().expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        io::Write::write_all(&mut gz, &tar).expect("gz");
        gz.finish().expect("gz")
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).expect("append");
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(kind);
        b.append_link(&mut h, name, target).expect("append link");
    }

    fn run(archive: &[u8]) -> (tempfile::TempDir, Result<Extracted, Failure>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().join("work");
        fs::create_dir(&work).expect("mkdir");
        let r = extract(archive, &work, &Limits::default(), false);
        (dir, r)
    }

    #[test]
    fn regular_files_and_inside_symlinks_are_extracted_with_default_modes() {
        let a = tgz(|b| {
            file(b, "apps/x/kustomization.yaml", b"resources: [a.yaml]\n");
            link(b, tar::EntryType::Symlink, "apps/x/a.yaml", "../shared.yaml");
            file(b, "apps/shared.yaml", b"kind: A\n");
        });
        let (dir, r) = run(&a);
        assert_eq!(r.expect("ok"), Extracted { entries: 3, bytes: 28, mentions_sops: false });
        let work = dir.path().join("work");
        assert_eq!(fs::read_to_string(work.join("apps/x/a.yaml")).expect("read"), "kind: A\n");
        let mode = fs::metadata(work.join("apps/x/kustomization.yaml")).expect("meta").permissions().mode();
        assert_eq!(mode & 0o111, 0, "exec bits dropped without preserveFileMode");
    }

    #[test]
    fn files_mentioning_sops_are_flagged() {
        let a = tgz(|b| file(b, "secret.yaml", b"data: {}\nsops:\n  mac: x\n"));
        assert!(run(&a).1.expect("ok").mentions_sops);
    }

    #[test]
    fn escaping_symlink_is_refused_with_the_entry_name() {
        let a = tgz(|b| link(b, tar::EntryType::Symlink, "evil", "../../etc"));
        let (_dir, r) = run(&a);
        let e = r.expect_err("refused");
        assert_eq!(
            e.detail,
            "error decompressing tgz file: \"evil\": illegal filepath in symlink: target \"../../etc\" resolves outside the work directory"
        );
    }

    #[test]
    fn symlink_through_an_earlier_link_is_checked_from_its_real_directory() {
        let a = tgz(|b| {
            file(b, "a/keep", b"x");
            link(b, tar::EntryType::Symlink, "a/b/up", "../..");
            link(b, tar::EntryType::Symlink, "a/b/d", "..");
            link(b, tar::EntryType::Symlink, "a/b/d/l", "../../x");
        });
        let (dir, r) = run(&a);
        let e = r.expect_err("refused");
        assert!(e.detail.contains("\"a/b/up\": illegal filepath in symlink"), "{}", e.detail);
        assert!(!dir.path().join("x").exists());
    }

    #[test]
    fn hard_links_and_fifos_are_refused() {
        let a = tgz(|b| link(b, tar::EntryType::Link, "h", "etc/passwd"));
        assert_eq!(
            run(&a).1.expect_err("hard link").detail,
            "error decompressing tgz file: \"h\": hard links are not allowed in the archive"
        );
        let a = tgz(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_entry_type(tar::EntryType::Fifo);
            b.append_data(&mut h, "pipe", io::empty()).expect("append");
        });
        assert!(run(&a).1.expect_err("fifo").detail.ends_with("\"pipe\": FIFOs are not allowed in the archive"));
    }

    #[test]
    fn writing_through_a_symlink_is_refused() {
        let a = tgz(|b| {
            file(b, "real.yaml", b"a");
            link(b, tar::EntryType::Symlink, "alias.yaml", "real.yaml");
            file(b, "alias.yaml", b"b");
        });
        let e = run(&a).1.expect_err("refused");
        assert!(e.detail.ends_with("\"alias.yaml\": refusing to write through a symlink"), "{}", e.detail);
    }

    #[test]
    fn entry_and_byte_limits_are_enforced() {
        let a = tgz(|b| {
            for i in 0..5 {
                file(b, &format!("f{i}"), b"0123456789");
            }
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = Limits { max_archive_bytes: 1 << 20, max_extracted_bytes: 25, max_entries: 10 };
        let e = extract(&a, dir.path(), &limits, false).expect_err("bytes");
        assert_eq!(e.code, Code::ResourceExhausted);
        assert!(e.detail.contains("limit of 25 extracted bytes (at \"f2\")"), "{}", e.detail);
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = Limits { max_archive_bytes: 1 << 20, max_extracted_bytes: 1000, max_entries: 3 };
        let e = extract(&a, dir.path(), &limits, false).expect_err("entries");
        assert!(e.detail.contains("more than 3 entries (at \"f3\")"), "{}", e.detail);
    }

    #[test]
    fn not_gzip_is_an_error() {
        let e = run(b"plain text").1.expect_err("not gzip");
        assert!(e.detail.starts_with("error decompressing tgz file: error"), "{}", e.detail);
    }
}
