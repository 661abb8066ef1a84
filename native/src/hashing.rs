//! `hash_file`: a streaming digest of a file in constant memory (1 MiB reads).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::Digest;

use crate::control::{Control, Throttle};
use crate::error::{NativeError, Result};

pub const ALGORITHMS: &[&str] = &["sha256", "sha512", "blake3"];
const CHUNK: usize = 1 << 20;

/// What `hash_file` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub algorithm: &'static str,
    pub hex: String,
    pub size: u64,
}

enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    fn new(algorithm: &str) -> Result<(Self, &'static str)> {
        match algorithm.to_ascii_lowercase().replace('-', "").as_str() {
            "sha256" => Ok((Self::Sha256(sha2::Sha256::new()), "sha256")),
            "sha512" => Ok((Self::Sha512(sha2::Sha512::new()), "sha512")),
            "blake3" => Ok((Self::Blake3(Box::default()), "blake3")),
            _ => Err(NativeError::Invalid(format!(
                "unknown hash algorithm '{algorithm}'; expected one of: {}",
                ALGORITHMS.join(", ")
            ))),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
            Self::Blake3(h) => {
                h.update(data);
            }
        }
    }

    fn finish(self) -> String {
        match self {
            Self::Sha256(h) => to_hex(&h.finalize()),
            Self::Sha512(h) => to_hex(&h.finalize()),
            Self::Blake3(h) => h.finalize().to_hex().to_string(),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

/// Hash `path` with `algorithm`, checking `control` for cancellation between chunks.
pub fn hash_file(path: &Path, algorithm: &str, control: &dyn Control) -> Result<FileDigest> {
    let (mut hasher, algorithm) = Hasher::new(algorithm)?;
    let mut file = File::open(path).map_err(|e| NativeError::io(path, "open", "file", e))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut buffer = vec![0u8; CHUNK];
    let mut size: u64 = 0;
    let mut throttle = Throttle::new(5.0);
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(NativeError::io(path, "read", "file", e)),
        };
        hasher.update(&buffer[..n]);
        size += n as u64;
        if control.cancelled() {
            return Err(NativeError::Cancelled { rows_read: 0 });
        }
        if total > 0 {
            throttle.report(control, 100.0 * size as f64 / total as f64, "hashing");
        }
    }
    Ok(FileDigest {
        algorithm,
        hex: hasher.finish(),
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::NoControl;

    fn temp_file(name: &str, data: &[u8]) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("atomiton-native-{}-{name}", std::process::id()));
        std::fs::write(&path, data).unwrap();
        path
    }

    #[test]
    fn sha256_of_abc_matches_the_standard_vector() {
        let path = temp_file("abc", b"abc");
        let digest = hash_file(&path, "SHA-256", &NoControl).unwrap();
        assert_eq!(
            digest.hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!((digest.size, digest.algorithm), (3, "sha256"));
    }

    #[test]
    fn blake3_of_empty_input_matches_the_standard_vector() {
        let path = temp_file("empty", b"");
        let digest = hash_file(&path, "blake3", &NoControl).unwrap();
        assert_eq!(
            digest.hex,
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn unknown_algorithm_lists_the_known_ones() {
        let path = temp_file("x", b"x");
        let err = hash_file(&path, "md5", &NoControl).unwrap_err().to_string();
        assert!(
            err.contains("'md5'") && err.contains("sha256, sha512, blake3"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_reported_as_not_found() {
        let err = hash_file(Path::new("/nonexistent/file.bin"), "sha256", &NoControl).unwrap_err();
        assert!(matches!(err, NativeError::NotFound { .. }), "{err}");
    }
}
