//! The stripe codec: systematic Reed-Solomon over one stripe at a time, and the streaming
//! `encode`, `decode` and `rebuild` built on it.
//!
//! Memory is one stripe (`(k + m) · S` bytes, at most `MAX_SLOTS · 256 KiB`) plus the
//! codec's work space, whatever the piece size. Sources and sinks are plain `std::io`
//! readers and writers, read and written strictly in order, so slots can be files, network
//! streams or the UnixFS exporter's output behind a bridge; an async caller runs these in
//! `spawn_blocking` or drives [`Encoder`] and [`StripeCodec`] stripe by stripe itself.

use std::io::{Read, Write};

use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

use super::{ErasureError, Layout, Result};

fn codec_err(e: reed_solomon_simd::Error) -> ErasureError {
    ErasureError::Codec(e.to_string())
}

/// Encodes stripes without copying the data shards: a full stripe's data shards are slices
/// of the caller's bytes; only the last, short stripe is copied (to zero-pad it).
pub struct Encoder {
    layout: Layout,
    rs: ReedSolomonEncoder,
    /// The zero-padded last stripe, allocated when first needed.
    pad: Vec<u8>,
}

/// The `k + m` shards of one stripe.
pub struct Stripe<'a> {
    data: &'a [u8],
    parity: reed_solomon_simd::EncoderResult<'a>,
    shard: usize,
    k: usize,
}

impl Stripe<'_> {
    /// Shard `i` (`0..k` data, `k..k+m` parity), `S` bytes. Empty for `i >= k + m`.
    pub fn shard(&self, i: u32) -> &[u8] {
        let i = i as usize;
        if i < self.k {
            &self.data[i * self.shard..(i + 1) * self.shard]
        } else {
            self.parity.recovery(i - self.k).unwrap_or(&[])
        }
    }
}

impl Encoder {
    pub fn new(layout: Layout) -> Result<Self> {
        let rs = ReedSolomonEncoder::new(
            layout.k as usize,
            layout.m as usize,
            layout.shard_size as usize,
        )
        .map_err(codec_err)?;
        Ok(Encoder {
            layout,
            rs,
            pad: Vec::new(),
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Encodes one stripe of piece bytes: exactly `k · S` bytes, or `1..=k · S` for the
    /// last stripe (zero-padded here).
    pub fn encode_stripe<'a>(&'a mut self, data: &'a [u8]) -> Result<Stripe<'a>> {
        let shard = self.layout.shard_size as usize;
        let k = self.layout.k as usize;
        let full = k * shard;
        if data.is_empty() || data.len() > full {
            return Err(ErasureError::InvalidLayout(format!(
                "a stripe holds 1..={full} bytes, got {}",
                data.len()
            )));
        }
        let Encoder { rs, pad, .. } = self;
        let data: &'a [u8] = if data.len() == full {
            data
        } else {
            pad.resize(full, 0);
            pad[..data.len()].copy_from_slice(data);
            pad[data.len()..].fill(0);
            pad
        };
        for i in 0..k {
            rs.add_original_shard(&data[i * shard..(i + 1) * shard])
                .map_err(codec_err)?;
        }
        let parity = rs.encode().map_err(codec_err)?;
        Ok(Stripe {
            data,
            parity,
            shard,
            k,
        })
    }
}

/// Fills missing shards of a stripe held in one buffer (shard `i` at `i · S`).
pub struct StripeCodec {
    layout: Layout,
    encoder: ReedSolomonEncoder,
    decoder: ReedSolomonDecoder,
}

impl StripeCodec {
    pub fn new(layout: Layout) -> Result<Self> {
        let (k, m, s) = (
            layout.k as usize,
            layout.m as usize,
            layout.shard_size as usize,
        );
        Ok(StripeCodec {
            layout,
            encoder: ReedSolomonEncoder::new(k, m, s).map_err(codec_err)?,
            decoder: ReedSolomonDecoder::new(k, m, s).map_err(codec_err)?,
        })
    }

    /// Bytes of the stripe buffer [`StripeCodec::fill`] works on, `(k + m) · S`.
    pub fn stripe_bytes(&self) -> usize {
        self.layout.n() as usize * self.layout.shard_size as usize
    }

    /// Computes the shards in `wanted` that are not `present`, from at least `k` present
    /// ones. `present[i]` says shard `i` of `stripe` holds its bytes; other shards are
    /// scratch (restored data shards are written there too).
    pub fn fill(&mut self, stripe: &mut [u8], present: &[bool], wanted: &[u32]) -> Result<()> {
        let k = self.layout.k as usize;
        let n = self.layout.n() as usize;
        let s = self.layout.shard_size as usize;
        if stripe.len() != n * s || present.len() != n {
            return Err(ErasureError::InvalidLayout(format!(
                "a stripe buffer is {} bytes with {n} flags",
                n * s
            )));
        }
        let absent = |i: usize| !present[i];
        let need_parity = wanted
            .iter()
            .any(|&i| (i as usize) >= k && absent(i as usize));
        let need_data = need_parity
            || wanted
                .iter()
                .any(|&i| (i as usize) < k && absent(i as usize));
        if need_data && (0..k).any(absent) {
            let mut given = 0;
            for i in (0..n).filter(|&i| present[i]).take(k) {
                let shard = &stripe[i * s..(i + 1) * s];
                if i < k {
                    self.decoder.add_original_shard(i, shard)
                } else {
                    self.decoder.add_recovery_shard(i - k, shard)
                }
                .map_err(codec_err)?;
                given += 1;
            }
            if given < k {
                return Err(ErasureError::Unrecoverable {
                    have: given as u32,
                    need: k as u32,
                    missing: (0..n as u32).filter(|&i| absent(i as usize)).collect(),
                });
            }
            let restored = self.decoder.decode().map_err(codec_err)?;
            for (i, shard) in restored.restored_original_iter() {
                stripe[i * s..(i + 1) * s].copy_from_slice(shard);
            }
        }
        if need_parity {
            for i in 0..k {
                self.encoder
                    .add_original_shard(&stripe[i * s..(i + 1) * s])
                    .map_err(codec_err)?;
            }
            let parity = self.encoder.encode().map_err(codec_err)?;
            for &i in wanted {
                let i = i as usize;
                if i >= k && i < n && absent(i) {
                    let shard = parity
                        .recovery(i - k)
                        .ok_or_else(|| ErasureError::Codec(format!("no parity shard {i}")))?;
                    stripe[i * s..(i + 1) * s].copy_from_slice(shard);
                }
            }
        }
        Ok(())
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ErasureError::io(e)),
        }
    }
    Ok(got)
}

/// True if the reader has at least one more byte.
fn has_more<R: Read>(reader: &mut R) -> Result<bool> {
    Ok(read_full(reader, &mut [0u8; 1])? > 0)
}

/// Encodes the piece read from `piece` (exactly `layout.piece_size` bytes) into the `k + m`
/// slot writers, in slot order. Each slot receives exactly [`Layout::slot_size`] bytes.
pub fn encode<R: Read, W: Write>(layout: &Layout, mut piece: R, slots: &mut [W]) -> Result<()> {
    if slots.len() != layout.n() as usize {
        return Err(ErasureError::InvalidLayout(format!(
            "{} slot writers for {} slots",
            slots.len(),
            layout.n()
        )));
    }
    let mut encoder = Encoder::new(*layout)?;
    let mut buf = vec![0u8; layout.stripe_data() as usize];
    let mut read = 0u64;
    for j in 0..layout.stripes() {
        let len = layout.stripe_len(j) as usize;
        let got = read_full(&mut piece, &mut buf[..len])?;
        read += got as u64;
        if got < len {
            return Err(ErasureError::PieceSize {
                size: read,
                expected: layout.piece_size,
            });
        }
        let stripe = encoder.encode_stripe(&buf[..len])?;
        for (i, slot) in slots.iter_mut().enumerate() {
            slot.write_all(stripe.shard(i as u32))
                .map_err(ErasureError::io)?;
        }
    }
    if has_more(&mut piece)? {
        return Err(ErasureError::PieceSize {
            size: layout.piece_size + 1,
            expected: layout.piece_size,
        });
    }
    for slot in slots.iter_mut() {
        slot.flush().map_err(ErasureError::io)?;
    }
    Ok(())
}

/// The `k` sources a reconstruction reads, lowest indices first (data slots need no
/// decoding), after refusing duplicates and out-of-range indices.
fn choose<R>(layout: &Layout, sources: Vec<(u32, R)>) -> Result<Vec<(u32, R)>> {
    let n = layout.n();
    let mut seen = vec![false; n as usize];
    for (index, _) in &sources {
        if *index >= n || std::mem::replace(&mut seen[*index as usize], true) {
            return Err(ErasureError::BadIndex { index: *index, n });
        }
    }
    let have = sources.len() as u32;
    if have < layout.k {
        return Err(ErasureError::Unrecoverable {
            have,
            need: layout.k,
            missing: (0..n).filter(|&i| !seen[i as usize]).collect(),
        });
    }
    let mut sources = sources;
    sources.sort_by_key(|(index, _)| *index);
    sources.truncate(layout.k as usize);
    Ok(sources)
}

/// Reads stripe `j`'s shard of every source into its place in `stripe`.
fn read_stripe<R: Read>(
    layout: &Layout,
    sources: &mut [(u32, R)],
    stripe: &mut [u8],
    j: u64,
) -> Result<()> {
    let s = layout.shard_size as usize;
    for (index, source) in sources.iter_mut() {
        let i = *index as usize;
        let got = read_full(source, &mut stripe[i * s..(i + 1) * s])?;
        if got < s {
            return Err(ErasureError::SlotSize {
                index: *index,
                size: j * s as u64 + got as u64,
                expected: layout.slot_size(),
            });
        }
    }
    Ok(())
}

/// Refuses sources with bytes past the slot size.
fn check_ends<R: Read>(layout: &Layout, sources: &mut [(u32, R)]) -> Result<()> {
    let expected = layout.slot_size();
    for (index, source) in sources.iter_mut() {
        if has_more(source)? {
            return Err(ErasureError::SlotSize {
                index: *index,
                size: expected + 1,
                expected,
            });
        }
    }
    Ok(())
}

/// Reads every stripe from `k` of `sources`, fills the `wanted` shards, and hands each
/// stripe buffer to `emit` with its number.
fn reconstruct<R: Read>(
    layout: &Layout,
    sources: Vec<(u32, R)>,
    wanted: &[u32],
    mut emit: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<Vec<(u32, R)>> {
    let mut sources = choose(layout, sources)?;
    let mut codec = StripeCodec::new(*layout)?;
    let mut stripe = vec![0u8; codec.stripe_bytes()];
    let mut present = vec![false; layout.n() as usize];
    for (index, _) in &sources {
        present[*index as usize] = true;
    }
    for j in 0..layout.stripes() {
        read_stripe(layout, &mut sources, &mut stripe, j)?;
        codec.fill(&mut stripe, &present, wanted)?;
        emit(j, &stripe)?;
    }
    check_ends(layout, &mut sources)?;
    Ok(sources)
}

/// Restores the piece from any `k` of `sources` (`(slot index, reader)`, each reader the
/// whole slot), writing exactly `layout.piece_size` bytes to `out`. Reads only the `k`
/// lowest-indexed sources; returns them (read to their end) so a caller can finish
/// checks it layered on them. Restored shards go from the decoder straight to `out`.
///
/// The bytes are not verified here: [`super::Manifest::restore`] checks them against the
/// piece root.
pub fn decode<R: Read, W: Write>(
    layout: &Layout,
    sources: Vec<(u32, R)>,
    mut out: W,
) -> Result<Vec<(u32, R)>> {
    let mut sources = choose(layout, sources)?;
    let (k, s) = (layout.k as usize, layout.shard_size as usize);
    let mut decoder = ReedSolomonDecoder::new(k, layout.m as usize, s).map_err(codec_err)?;
    let mut stripe = vec![0u8; layout.n() as usize * s];
    // The k lowest indices are all data slots exactly when no data slot is missing.
    let systematic = sources.iter().all(|(index, _)| (*index as usize) < k);
    for j in 0..layout.stripes() {
        read_stripe(layout, &mut sources, &mut stripe, j)?;
        let len = layout.stripe_len(j) as usize;
        if systematic {
            out.write_all(&stripe[..len]).map_err(ErasureError::io)?;
            continue;
        }
        for (index, _) in &sources {
            let i = *index as usize;
            let shard = &stripe[i * s..(i + 1) * s];
            if i < k {
                decoder.add_original_shard(i, shard)
            } else {
                decoder.add_recovery_shard(i - k, shard)
            }
            .map_err(codec_err)?;
        }
        let restored = decoder.decode().map_err(codec_err)?;
        let mut left = len;
        for i in 0..k {
            if left == 0 {
                break;
            }
            let shard = match restored.restored_original(i) {
                Some(shard) => shard,
                None => &stripe[i * s..(i + 1) * s],
            };
            let take = left.min(s);
            out.write_all(&shard[..take]).map_err(ErasureError::io)?;
            left -= take;
        }
    }
    check_ends(layout, &mut sources)?;
    out.flush().map_err(ErasureError::io)?;
    Ok(sources)
}

/// Rebuilds the slots named in `targets` (`(slot index, writer)`) from any `k` of
/// `sources`; each target receives exactly [`Layout::slot_size`] bytes, identical to what
/// [`encode`] wrote for that index. Returns the sources that were read.
pub fn rebuild<R: Read, W: Write>(
    layout: &Layout,
    sources: Vec<(u32, R)>,
    targets: &mut [(u32, W)],
) -> Result<Vec<(u32, R)>> {
    let n = layout.n();
    let mut wanted = Vec::with_capacity(targets.len());
    for (index, _) in targets.iter() {
        if *index >= n || wanted.contains(index) {
            return Err(ErasureError::BadIndex { index: *index, n });
        }
        wanted.push(*index);
    }
    let s = layout.shard_size as usize;
    let sources = reconstruct(layout, sources, &wanted, |_, stripe| {
        for (index, target) in targets.iter_mut() {
            let i = *index as usize;
            target
                .write_all(&stripe[i * s..(i + 1) * s])
                .map_err(ErasureError::io)?;
        }
        Ok(())
    })?;
    for (_, target) in targets.iter_mut() {
        target.flush().map_err(ErasureError::io)?;
    }
    Ok(sources)
}
