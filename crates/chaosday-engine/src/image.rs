//! A Docker image of chaosday itself, built with no registry and no Docker CLI: the running
//! binary (as `/bin/chaosday`, the entry point), the shared libraries `ldd` lists, the CA
//! bundle and a `/tmp`, written as a tar stream straight into the Engine API's import
//! (`POST /images/create?fromSrc=-`, what `docker import` does). The tar is produced on a
//! blocking thread in 256 KiB pieces, so a debug binary of a few hundred megabytes is never
//! held in memory whole.
//!
//! `chaosday demo --docker` runs its shop from such an image; the tests and benchmarks build
//! theirs through `chaosday_testkit::import_image`, which calls [`import`].

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::{CreateImageOptions, RemoveImageOptions};
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// Where the binary is in the image, and its entry point.
pub const ENTRYPOINT: &str = "/bin/chaosday";

/// The CA bundle copied into the image when this host has one (the binary's HTTP clients
/// refuse to start without root certificates).
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How much of the tar goes to the Engine at a time.
const CHUNK: usize = 256 * 1024;

/// Why an image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file that goes into the image cannot be read.
    #[error("cannot put {path} into the image: {source}")]
    Read {
        /// The file on this host.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The Docker Engine refused or failed.
    #[error("Docker Engine, {doing} image {tag}: {source}")]
    Engine {
        /// What was being done (`importing`, `removing`).
        doing: &'static str,
        /// The image's name.
        tag: String,
        /// The Engine's error.
        source: DockerError,
    },
}

/// One file of the image: where it is read from on this host, and its path in the image
/// (relative, such as `bin/chaosday`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFile {
    /// The file on this host (a symbolic link is followed).
    pub from: PathBuf,
    /// Its path in the image, without a leading `/`.
    pub to: String,
    /// Its mode bits.
    pub mode: u32,
}

/// What goes into the image of `binary`: the binary as `bin/chaosday`, the libraries `ldd`
/// lists at their own paths (none for a static binary, or where `ldd` is missing), and the
/// CA bundle when this host has one.
pub fn files_for(binary: &Path) -> Vec<ImageFile> {
    let ldd = std::process::Command::new("ldd")
        .arg(binary)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let mut files: Vec<ImageFile> = libraries_in(&ldd)
        .into_iter()
        .map(|lib| ImageFile {
            to: lib.trim_start_matches('/').to_owned(),
            from: lib.into(),
            mode: 0o755,
        })
        .collect();
    files.push(ImageFile {
        from: binary.to_owned(),
        to: ENTRYPOINT.trim_start_matches('/').to_owned(),
        mode: 0o755,
    });
    if Path::new(CA_BUNDLE).is_file() {
        files.push(ImageFile {
            from: CA_BUNDLE.into(),
            to: CA_BUNDLE.trim_start_matches('/').to_owned(),
            mode: 0o644,
        });
    }
    files
}

/// The absolute paths of the libraries in `ldd`'s output (`libc.so.6 => /lib/…/libc.so.6
/// (0x…)`, `/lib64/ld-linux-x86-64.so.2 (0x…)`; the vDSO has no file).
fn libraries_in(ldd: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    ldd.split_whitespace()
        .filter(|word| word.starts_with('/'))
        .filter(|word| seen.insert(word.to_owned()))
        .map(str::to_owned)
        .collect()
}

/// Imports the image `tag` (`name:tag`) of `binary` (see [`files_for`]) with these labels,
/// `/bin/chaosday` as its entry point; returns its id. An image already tagged so loses the
/// tag (remove it first with [`remove`] so that copies do not pile up).
pub async fn import(
    docker: &Docker,
    binary: &Path,
    tag: &str,
    labels: &BTreeMap<String, String>,
) -> Result<String, ImageError> {
    let files = files_for(binary);
    // Every file must be readable before the Engine is asked anything.
    for file in &files {
        std::fs::metadata(&file.from).map_err(|source| ImageError::Read {
            path: file.from.clone(),
            source,
        })?;
    }
    let (tx, mut rx) = mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
    let writer = tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let written = write_tar(&files, &mut out);
        match written {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::new(e.kind(), e.to_string())));
                Err(e)
            }
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let (repo, version) = tag.split_once(':').unwrap_or((tag, "latest"));
    let mut changes = vec![format!(r#"ENTRYPOINT ["{ENTRYPOINT}"]"#)];
    changes.extend(
        labels
            .iter()
            .map(|(k, v)| format!("LABEL {}={}", quoted(k), quoted(v))),
    );
    let options = CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.into()),
        tag: Some(version.into()),
        changes,
        ..Default::default()
    };
    let failed = |source| ImageError::Engine {
        doing: "importing",
        tag: tag.to_owned(),
        source,
    };
    let mut progress =
        docker.create_image(Some(options), Some(bollard::body_try_stream(body)), None);
    let mut id = None;
    let mut engine_error = None;
    while let Some(step) = progress.next().await {
        match step {
            Ok(info) => {
                if let Some(status) = info.status.filter(|s| s.starts_with("sha256:")) {
                    id = Some(status);
                }
            }
            Err(e) => {
                engine_error = Some(e);
                break;
            }
        }
    }
    drop(progress);
    // A file that failed half-way says why better than the Engine's broken upload.
    match writer.await {
        Ok(Err(source)) => {
            return Err(ImageError::Read {
                path: binary.to_owned(),
                source,
            });
        }
        Err(join) => {
            return Err(ImageError::Read {
                path: binary.to_owned(),
                source: std::io::Error::other(join.to_string()),
            });
        }
        Ok(Ok(())) => {}
    }
    if let Some(e) = engine_error {
        return Err(failed(e));
    }
    match id {
        Some(id) => Ok(id),
        None => docker
            .inspect_image(tag)
            .await
            .map(|found| found.id.unwrap_or_default())
            .map_err(failed),
    }
}

/// Removes the image `tag` (forced: containers that still use it keep running); `false` if
/// there was none.
pub async fn remove(docker: &Docker, tag: &str) -> Result<bool, ImageError> {
    let options = RemoveImageOptions {
        force: true,
        ..Default::default()
    };
    match docker.remove_image(tag, Some(options), None).await {
        Ok(_) => Ok(true),
        Err(DockerError::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(source) => Err(ImageError::Engine {
            doing: "removing",
            tag: tag.to_owned(),
            source,
        }),
    }
}

/// A value for a Dockerfile `LABEL` (double-quoted, as JSON quotes it).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}

/// Writes the image's tar: every parent directory, `tmp` (mode 1777), then the files.
fn write_tar(files: &[ImageFile], out: &mut ChunkWriter) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(out);
    let mut dirs = BTreeSet::from(["tmp".to_owned()]);
    for file in files {
        let mut parent = Path::new(&file.to).parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(dir.display().to_string());
            parent = dir.parent();
        }
    }
    for dir in &dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(if dir == "tmp" { 0o1777 } else { 0o755 });
        header.set_size(0);
        header.set_mtime(0);
        tar.append_data(&mut header, format!("{dir}/"), std::io::empty())?;
    }
    for file in files {
        let opened = std::fs::File::open(&file.from)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", file.from.display())))?;
        let size = opened.metadata()?.len();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(file.mode);
        header.set_size(size);
        header.set_mtime(0);
        tar.append_data(&mut header, &file.to, opened)?;
    }
    tar.into_inner()?.flush()
}

/// Sends what is written to it in pieces of [`CHUNK`] bytes (from a blocking thread).
struct ChunkWriter {
    tx: mpsc::Sender<std::io::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(piece.into()))
            .map_err(|_| std::io::Error::other("the Docker Engine stopped reading the image"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_libraries_are_read_from_ldds_output() {
        let ldd = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            libraries_in(ldd),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
        assert!(libraries_in("\tnot a dynamic executable\n").is_empty());
    }

    #[test]
    fn the_tar_holds_the_files_and_their_directories() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("chaosday");
        std::fs::write(&binary, vec![7u8; 3 * CHUNK + 5]).unwrap();
        let files = vec![ImageFile {
            from: binary,
            to: "bin/chaosday".into(),
            mode: 0o755,
        }];
        let (tx, mut rx) = mpsc::channel(64);
        let mut out = ChunkWriter {
            tx,
            buf: Vec::new(),
        };
        let handle = std::thread::spawn(move || write_tar(&files, &mut out));
        let mut all = Vec::new();
        while let Some(piece) = rx.blocking_recv() {
            all.extend_from_slice(&piece.unwrap());
        }
        handle.join().unwrap().unwrap();
        let mut archive = tar::Archive::new(all.as_slice());
        let entries: Vec<(String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                    e.size(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("bin/".to_owned(), 0o755, 0),
                ("tmp/".to_owned(), 0o1777, 0),
                ("bin/chaosday".to_owned(), 0o755, 3 * CHUNK as u64 + 5),
            ]
        );
    }
}
