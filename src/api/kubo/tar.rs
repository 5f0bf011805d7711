//! The tar archive `get` answers: POSIX ustar entries, preceded by a PAX extended header
//! where a name is longer than ustar's 100 bytes or a file is 8 GiB or more.
//!
//! The archive streams: directories are listed as they are reached (depth first, entries
//! in name order), files are streamed block by block, so memory is bounded by the pending
//! directory entries, never by a file. Modes are 0755 for directories and 0644 for files and
//! times are 0: UnixFS entries Cairn writes carry neither.

use bytes::{Bytes, BytesMut};
use cid::Cid;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use super::Blocks;
use crate::content::exporter::{self, Entry};
use crate::content::ContentError;

const BLOCK: usize = 512;
/// The largest size ustar's 11 octal digits hold.
const USTAR_MAX_SIZE: u64 = 0o77_777_777_777;

/// An entry still to be written: its path in the archive and what it is.
struct Pending {
    path: String,
    cid: Cid,
    entry: Option<Entry>,
}

struct Walk {
    blocks: Blocks,
    stack: Vec<Pending>,
    finished: bool,
}

/// The archive of `cid` (already stat'ed as `entry`), its top entry named `name`.
pub fn archive(
    blocks: Blocks,
    name: String,
    cid: Cid,
    entry: Entry,
) -> impl Stream<Item = Result<Bytes, ContentError>> + Send + 'static {
    let walk = Walk {
        blocks,
        stack: vec![Pending {
            path: name,
            cid,
            entry: Some(entry),
        }],
        finished: false,
    };
    futures::stream::unfold(walk, |mut walk| async move {
        if walk.finished {
            return None;
        }
        let part = match walk.stack.pop() {
            Some(next) => match next_entry(&mut walk, next).await {
                Ok(part) => part,
                Err(e) => {
                    walk.finished = true;
                    futures::stream::once(async move { Err(e) }).boxed()
                }
            },
            None => {
                walk.finished = true;
                // The end of the archive: two zero blocks.
                futures::stream::once(async { Ok(Bytes::from(vec![0u8; 2 * BLOCK])) }).boxed()
            }
        };
        Some((part, walk))
    })
    .flatten()
}

async fn next_entry(
    walk: &mut Walk,
    next: Pending,
) -> Result<BoxStream<'static, Result<Bytes, ContentError>>, ContentError> {
    let entry = match next.entry {
        Some(entry) => entry,
        None => exporter::stat(&walk.blocks, &next.cid).await?,
    };
    match entry {
        Entry::Directory { .. } => {
            let children = exporter::list_dir(&walk.blocks, &next.cid).await?;
            // Reversed, so the stack pops them in name order.
            for child in children.into_iter().rev() {
                walk.stack.push(Pending {
                    path: format!("{}/{}", next.path, child.name),
                    cid: child.cid,
                    entry: None,
                });
            }
            let header = header(&format!("{}/", next.path), 0, true);
            Ok(futures::stream::once(async move { Ok(header) }).boxed())
        }
        Entry::File { size } => {
            let header = header(&next.path, size, false);
            let padding = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
            let body = exporter::cat(walk.blocks.clone(), next.cid);
            let tail =
                futures::stream::iter((padding > 0).then(|| Ok(Bytes::from(vec![0u8; padding]))));
            Ok(futures::stream::once(async move { Ok(header) })
                .chain(body)
                .chain(tail)
                .boxed())
        }
    }
}

/// The header block(s) of one entry.
pub fn header(path: &str, size: u64, dir: bool) -> Bytes {
    let mut out = BytesMut::new();
    let long = path.len() > 100;
    let huge = size > USTAR_MAX_SIZE;
    if long || huge {
        let mut records = String::new();
        if long {
            records.push_str(&pax_record("path", path));
        }
        if huge {
            records.push_str(&pax_record("size", &size.to_string()));
        }
        out.extend_from_slice(&ustar(
            "PaxHeaders/entry",
            records.len() as u64,
            b'x',
            0o644,
        ));
        out.extend_from_slice(records.as_bytes());
        let padding = (BLOCK - records.len() % BLOCK) % BLOCK;
        out.extend_from_slice(&vec![0u8; padding]);
    }
    let short = if long { truncate(path, 100) } else { path };
    let size_field = if huge { 0 } else { size };
    let (flag, mode) = if dir { (b'5', 0o755) } else { (b'0', 0o644) };
    out.extend_from_slice(&ustar(short, size_field, flag, mode));
    out.freeze()
}

/// A PAX record: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}").len() + body.len() != len {
        len = format!("{len}").len() + body.len();
    }
    format!("{len}{body}")
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn ustar(name: &str, size: u64, flag: u8, mode: u32) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    put(&mut h[0..100], name.as_bytes());
    put(&mut h[100..108], format!("{mode:07o}\0").as_bytes());
    put(&mut h[108..116], b"0000000\0");
    put(&mut h[116..124], b"0000000\0");
    put(&mut h[124..136], format!("{size:011o}\0").as_bytes());
    put(&mut h[136..148], b"00000000000\0");
    h[156] = flag;
    put(&mut h[257..263], b"ustar\0");
    put(&mut h[263..265], b"00");
    // The checksum is computed with its own field read as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    put(&mut h[148..156], format!("{sum:06o}\0 ").as_bytes());
    h
}

fn put(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ustar_header_has_its_fields_and_checksum_where_tar_reads_them() {
        let h = header("dir/file.txt", 1234, false);
        assert_eq!(h.len(), BLOCK);
        assert_eq!(&h[0..12], b"dir/file.txt");
        assert_eq!(&h[124..136], b"00000002322\0");
        assert_eq!(h[156], b'0');
        assert_eq!(&h[257..263], b"ustar\0");
        let mut copy = h.to_vec();
        copy[148..156].copy_from_slice(b"        ");
        let sum: u32 = copy.iter().map(|&b| u32::from(b)).sum();
        let field = std::str::from_utf8(&h[148..154]).unwrap();
        assert_eq!(u32::from_str_radix(field, 8).unwrap(), sum);
        assert_eq!(header("d/", 0, true)[156], b'5');
    }

    #[test]
    fn long_names_and_huge_sizes_get_a_pax_header() {
        let name = "n".repeat(150);
        let h = header(&name, 10, false);
        assert_eq!(h.len(), 3 * BLOCK);
        assert_eq!(h[156], b'x');
        let records = std::str::from_utf8(&h[BLOCK..BLOCK + 160]).unwrap();
        assert_eq!(records, format!("160 path={name}\n"));
        let h = header("big", 1 << 40, false);
        assert!(std::str::from_utf8(&h[BLOCK..2 * BLOCK])
            .unwrap()
            .starts_with("22 size=1099511627776\n"));
    }

    #[test]
    fn a_pax_record_counts_its_own_length() {
        for value in ["", "a", &"x".repeat(95), &"y".repeat(996)] {
            let record = pax_record("path", value);
            let (len, _) = record.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), record.len(), "{record}");
        }
    }
}
